using System.Collections;

namespace StateTree.CSharp.Tests;

/// <summary>A dictionary that is only an IReadOnlyDictionary (no IDictionary), to check that overload and shape.</summary>
public sealed class ReadOnlyOnly(IEnumerable<KeyValuePair<string, object?>> entries) : IReadOnlyDictionary<string, object?>
{
    private readonly List<KeyValuePair<string, object?>> entries = entries.ToList();

    public object? this[string key] => entries.First(e => e.Key == key).Value;
    public IEnumerable<string> Keys => entries.Select(e => e.Key);
    public IEnumerable<object?> Values => entries.Select(e => e.Value);
    public int Count => entries.Count;
    public bool ContainsKey(string key) => entries.Any(e => e.Key == key);
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public bool TryGetValue(string key, out object? value)
    {
        foreach (var e in entries)
        {
            if (e.Key == key)
            {
                value = e.Value;
                return true;
            }
        }

        value = null;
        return false;
    }
}

// SPEC §4.6: ToPureDict, ReplaceByPureDict, RestoreIntPaths on in-memory dictionaries (JSON is in JsonTests).
public class PureDictTests
{
    private static Dictionary<object, object?> D(params (object Key, object? Value)[] entries)
    {
        var d = new Dictionary<object, object?>();
        foreach (var (k, v) in entries)
            d.Add(k, v);
        return d;
    }

    private static State Net() => State.Create(new Models.Node
    {
        ["layers"] = new Models.Node
        {
            [0] = new Models.Node { ["kernel"] = new Param(new float[] { 1, 2 }), ["bias"] = new Param(0.5f) },
            [1] = new Models.Node { ["kernel"] = new MyParam(new float[] { 3, 4 }).WithMetadata("sharding", "model"), ["bias"] = new Param(1.5f) },
        },
        ["count"] = new RngCount(3).WithMetadata("tag", "dropout"),
        ["step"] = 7,
    });

    // ---- ToPureDict -------------------------------------------------------------------------

    [Fact]
    public void ToPureDict_gives_nested_dictionaries_with_int_and_string_keys_and_variable_values()
    {
        var pure = Net().ToPureDict();
        Assert.Equal(new object[] { "count", "layers", "step" }, pure.Keys.ToArray());
        Assert.Equal(3, pure["count"]);
        Assert.Equal(7, pure["step"]);
        var layers = Assert.IsType<Dictionary<object, object?>>(pure["layers"]);
        Assert.Equal(new object[] { 0, 1 }, layers.Keys.ToArray());
        Assert.All(layers.Keys, k => Assert.IsType<int>(k));
        var layer1 = Assert.IsType<Dictionary<object, object?>>(layers[1]);
        Assert.Equal(new object[] { "bias", "kernel" }, layer1.Keys.ToArray());
        Assert.Equal(new float[] { 3, 4 }, layer1["kernel"]);
        Assert.Equal(1.5f, layer1["bias"]);
    }

    [Fact]
    public void ToPureDict_inserts_keys_in_path_order_at_every_level()
    {
        var s = State.Create(new Models.Node { ["b"] = 1, ["a"] = 2, [5] = 3, [-1] = 4, ["B"] = 5 });
        Assert.Equal(new object[] { -1, 5, "B", "a", "b" }, s.ToPureDict().Keys.ToArray());
    }

    [Fact]
    public void ToPureDict_drops_empty_sub_states()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("empty"), State.Empty).SetItem(KeyPath.Of("x", "y"), State.Empty);
        var pure = s.ToPureDict();
        Assert.Equal(new object[] { 0, 1 }, pure.Keys.ToArray());
        Assert.Empty(State.Create(new Models.Node { ["a"] = new Models.Node() }).ToPureDict());
    }

    [Fact]
    public void ToPureDict_keeps_null_leaves_and_null_values()
    {
        var s = State.Create(new Models.Node { ["raw"] = null, ["var"] = new Param(null) });
        var pure = s.ToPureDict();
        Assert.True(pure.ContainsKey("raw"));
        Assert.Null(pure["raw"]);
        Assert.True(pure.ContainsKey("var"));
        Assert.Null(pure["var"]);
    }

    [Fact]
    public void ToPureDict_applies_extract_to_every_leaf()
    {
        var seen = new List<object?>();
        var pure = Net().ToPureDict(leaf => { seen.Add(leaf); return leaf?.GetType().Name; });
        Assert.Equal(5 + 1, seen.Count);
        Assert.Equal("RngCount", pure["count"]);
        Assert.Equal("Int32", pure["step"]);
        Assert.Equal("MyParam", ((Dictionary<object, object?>)((Dictionary<object, object?>)pure["layers"]!)[1]!)["kernel"]);
        Assert.Contains(7, seen);
        Assert.Contains(new RngCount(3).WithMetadata("tag", "dropout"), seen);
    }

    [Fact]
    public void ToPureDict_with_identity_extract_keeps_the_variables()
    {
        var pure = Net().ToPureDict(x => x);
        Assert.Equal(new RngCount(3).WithMetadata("tag", "dropout"), pure["count"]);
    }

    [Fact]
    public void ToPureDict_returns_a_new_dictionary_each_time()
    {
        var s = Net();
        var a = s.ToPureDict();
        a["step"] = 100;
        a.Remove("layers");
        Assert.Equal(7, s.ToPureDict()["step"]);
        Assert.Equal(7, s["step"]);
        Assert.True(s.ToPureDict().ContainsKey("layers"));
    }

    // ---- ReplaceByPureDict ------------------------------------------------------------------

    [Fact]
    public void Round_trip_through_the_pure_dict_gives_back_the_state()
    {
        var s = Net();
        Assert.Equal(s, s.ReplaceByPureDict(s.ToPureDict()));
    }

    [Fact]
    public void Replace_into_a_fresh_state_restores_values_and_keeps_types_and_metadata()
    {
        var trained = Net();
        var fresh = trained.Map((_, leaf) => leaf switch
        {
            Variable { Value: float[] a } v => v.WithValue(new float[a.Length]),
            Variable { Value: float } v => v.WithValue(0f),
            Variable { Value: int } v => v.WithValue(0),
            int => 0,
            var x => x,
        });
        Assert.NotEqual(trained, fresh);
        var restored = fresh.ReplaceByPureDict(trained.ToPureDict());
        Assert.Equal(trained, restored);
        Assert.IsType<MyParam>(restored[KeyPath.Of("layers", 1, "kernel")]);
        Assert.Equal("model", ((Variable)restored[KeyPath.Of("layers", 1, "kernel")]!).Metadata["sharding"]);
        Assert.Equal("dropout", ((Variable)restored["count"]!).Tag);
    }

    [Fact]
    public void Replace_is_a_partial_update()
    {
        var s = Net();
        var r = s.ReplaceByPureDict(D(("layers", D((1, D(("bias", 9f)))))));
        Assert.Equal(new Param(9f), r[KeyPath.Of("layers", 1, "bias")]);
        Assert.Equal(s.SetItem(KeyPath.Of("layers", 1, "bias"), new Param(9f)), r);
        // The input is unchanged.
        Assert.Equal(Net(), s);
    }

    [Fact]
    public void Replace_of_a_raw_leaf_takes_the_new_value()
    {
        var r = Net().ReplaceByPureDict(D(("step", 8)));
        Assert.Equal(8, r["step"]);
    }

    [Fact]
    public void Replace_with_an_empty_pure_dict_changes_nothing()
    {
        var s = Net();
        Assert.Equal(s, s.ReplaceByPureDict(D()));
        Assert.Equal(s, s.ReplaceByPureDict(D(("layers", D()), ("nothing", D()))));
    }

    [Fact]
    public void A_canonical_int_string_finds_an_int_key()
    {
        var r = Net().ReplaceByPureDict(D(("layers", D(("0", D(("bias", 2f))), ("-0", D()), ("1", D(("bias", 3f)))))));
        Assert.Equal(new Param(2f), r[KeyPath.Of("layers", 0, "bias")]);
        Assert.Equal(new Param(3f), r[KeyPath.Of("layers", 1, "bias")]);
    }

    [Fact]
    public void An_exact_string_key_wins_over_the_int_fallback()
    {
        var s = State.Create(new Models.Node { [0] = new Param(0), ["0"] = new Param(1) });
        var r = s.ReplaceByPureDict(D(("0", 10)));
        Assert.Equal(new Param(0), r[0]);
        Assert.Equal(new Param(10), r["0"]);
    }

    [Fact]
    public void Keys_resolve_level_by_level_which_Flax_cannot_do()
    {
        // {0: {'1': …}} found from ('0', '1'): "0" falls back to the int 0, then '1' matches exactly.
        var s = State.Create(new Models.Node { [0] = new Models.Node { ["1"] = new Param(0), [1] = new Param(5) } });
        var r = s.ReplaceByPureDict(D(("0", D(("1", 7)))));
        Assert.Equal(new Param(7), r[KeyPath.Of(0, "1")]);
        Assert.Equal(new Param(5), r[KeyPath.Of(0, 1)]);
    }

    [Fact]
    public void There_is_no_int_to_string_fallback()
    {
        var s = State.Create(new Models.Node { ["0"] = new Param(0) });
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((0, 1))));
        Assert.Contains("key in pure_dict not available in state: (0,)", e.Message);
    }

    [Fact]
    public void Non_canonical_int_strings_do_not_find_int_keys()
    {
        var s = State.Create(new Models.Node { [5] = new Param(0), [-3] = new Param(0), [1000] = new Param(0) });
        foreach (var text in new[] { "05", "+5", " 5", "5 ", "-03", "1_000", "1,000", "5.0", "٥" })
        {
            var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((text, 1))));
            Assert.Contains($"key in pure_dict not available in state: ('{text}',)", e.Message);
        }

        Assert.Equal(new Param(1), s.ReplaceByPureDict(D(("-3", 1)))[-3]);
    }

    [Fact]
    public void Two_keys_resolving_to_the_same_child_are_an_error()
    {
        var s = Models.Layers();
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D(("0", D(("kernel", 1))), (0, D(("kernel", 2))))));
        Assert.Contains("0", e.Message);
        Assert.Equal(Models.Layers(), s);
        var errors = V.Errors(s.TryReplaceByPureDict(D(("0", D(("kernel", 1))), (0, D(("kernel", 2))))));
        var single = Assert.Single(errors);
        Assert.Single(single.At!);
        Assert.Contains("0", single.Message);
    }

    [Fact]
    public void Unknown_paths_are_all_listed_in_Python_tuple_notation_with_keys_as_given()
    {
        var s = Net();
        var pure = D(
            ("layers", D(
                ("5", D(("kernel", new float[] { 0 }))),
                (7, D(("kernel", 1), ("bias", 2))),
                (0, D(("kernel", new float[] { 9, 9 }), ("gamma", 1))))),
            ("optimizer", 1));
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(pure));
        var lines = FilterAndSplitTests.MessageOnly(e).Split('\n');
        Assert.Equal(
            new[]
            {
                "key in pure_dict not available in state: ('layers', '5', 'kernel')",
                "key in pure_dict not available in state: ('layers', 7, 'bias')",
                "key in pure_dict not available in state: ('layers', 7, 'kernel')",
                "key in pure_dict not available in state: ('layers', 0, 'gamma')",
                "key in pure_dict not available in state: ('optimizer',)",
            }.OrderBy(x => x, StringComparer.Ordinal),
            lines.OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal("pureDict", e.ParamName);
        Assert.Equal(Net(), s);
    }

    [Fact]
    public void The_spec_message_example()
    {
        var s = State.Create(new Models.Node { ["layers"] = new Models.Node { [0] = new Models.Node { ["kernel"] = new Param(1) } } });
        var pure = D(("layers", D(("5", D(("kernel", 2))))));
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(pure));
        Assert.Equal("key in pure_dict not available in state: ('layers', '5', 'kernel')", FilterAndSplitTests.MessageOnly(e));
    }

    [Fact]
    public void An_unknown_sub_tree_yields_one_unknown_path_per_leaf_and_empty_sub_dicts_are_ignored()
    {
        var s = Models.Layers();
        var pure = D(("extra", D(("a", 1), ("b", D(("c", 2), ("d", D()))), ("e", D()))));
        var errors = V.Errors(s.TryReplaceByPureDict(pure));
        Assert.Equal(
            new[] { KeyPath.Of("extra", "a"), KeyPath.Of("extra", "b", "c") },
            errors.Select(x => x.At!).OrderBy(p => p).ToArray());
    }

    [Fact]
    public void A_sub_dict_where_the_state_has_a_leaf_is_unknown()
    {
        var s = Models.Layers();
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((0, D(("kernel", D(("value", 1))))))));
        Assert.Equal("key in pure_dict not available in state: (0, 'kernel', 'value')", FilterAndSplitTests.MessageOnly(e));
    }

    [Fact]
    public void A_leaf_where_the_state_has_a_sub_tree_is_unknown()
    {
        var s = Models.Layers();
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((0, 5))));
        Assert.Equal("key in pure_dict not available in state: (0,)", FilterAndSplitTests.MessageOnly(e));
    }

    [Fact]
    public void An_exact_key_match_wins_even_if_the_shapes_then_disagree()
    {
        // "0" matches the string key "0" (a leaf); the pure dict goes deeper, so that path is unknown,
        // and there is no second attempt through the int key 0.
        var s = State.Create(new Models.Node { ["0"] = new Param(1), [0] = new Models.Node { ["a"] = new Param(2) } });
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D(("0", D(("a", 3))))));
        Assert.Equal("key in pure_dict not available in state: ('0', 'a')", FilterAndSplitTests.MessageOnly(e));
    }

    [Fact]
    public void A_custom_replace_receives_the_current_leaf_and_the_new_value()
    {
        var calls = new List<(object? Current, object? New)>();
        var s = Models.Layers();
        var r = s.ReplaceByPureDict(D((1, D(("kernel", 20)))), (current, value) =>
        {
            calls.Add((current, value));
            return new BatchStat(value);
        });
        Assert.Equal(new[] { ((object?)new Param(2), (object?)20) }, calls.ToArray());
        Assert.Equal(new BatchStat(20), r[KeyPath.Of(1, "kernel")]);
        Assert.Equal(new Param(1), r[KeyPath.Of(0, "kernel")]);
    }

    [Fact]
    public void A_null_replace_is_the_default_replace()
    {
        var s = Models.Layers();
        Assert.Equal(s.ReplaceByPureDict(D((1, D(("kernel", 20))))), s.ReplaceByPureDict(D((1, D(("kernel", 20)))), replace: null));
    }

    [Fact]
    public void A_null_new_value_is_a_value_like_any_other()
    {
        var r = Models.Layers().ReplaceByPureDict(D((1, D(("kernel", null)))));
        Assert.Equal(new Param(null), r[KeyPath.Of(1, "kernel")]);
    }

    [Fact]
    public void Strict_mode_fails_on_leaves_the_pure_dict_does_not_mention()
    {
        var s = Net();
        var pure = s.ToPureDict();
        Assert.Equal(s, s.ReplaceByPureDict(pure, strict: true));
        ((Dictionary<object, object?>)((Dictionary<object, object?>)pure["layers"]!)[0]!).Remove("bias");
        pure.Remove("step");
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(pure, strict: true));
        Assert.Contains("('layers', 0, 'bias')", e.Message);
        Assert.Contains("('step',)", e.Message);
        Assert.DoesNotContain("'kernel'", e.Message);
        // Without strict the same pure dict is a fine partial update.
        Assert.Equal(s, s.ReplaceByPureDict(pure));
    }

    [Fact]
    public void Strict_mode_lists_missing_and_unexpected_paths_together()
    {
        var s = Models.Layers();
        var pure = D((0, D(("kernel", 1))), (2, D(("kernel", 3))));
        var errors = V.Errors(s.TryReplaceByPureDict(pure, strict: true));
        Assert.Equal(2, errors.Length);
        var missing = Assert.Single(errors, x => x.At == KeyPath.Of(1, "kernel"));
        var unexpected = Assert.Single(errors, x => x.At == KeyPath.Of(2, "kernel"));
        Assert.Contains("(1, 'kernel')", missing.Message);
        Assert.Equal("key in pure_dict not available in state: (2, 'kernel')", unexpected.Message);
        Assert.NotEqual(missing.Message.Replace("(1, 'kernel')", ""), unexpected.Message.Replace("(2, 'kernel')", ""));
        var e = Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(pure, strict: true));
        Assert.Contains("(1, 'kernel')", e.Message);
        Assert.Contains("(2, 'kernel')", e.Message);
    }

    [Fact]
    public void Strict_mode_reports_every_leaf_of_an_unmentioned_sub_tree()
    {
        var s = Net();
        var errors = V.Errors(s.TryReplaceByPureDict(D(("count", 1), ("step", 2)), strict: true));
        Assert.Equal(
            new[] { KeyPath.Of("layers", 0, "bias"), KeyPath.Of("layers", 0, "kernel"), KeyPath.Of("layers", 1, "bias"), KeyPath.Of("layers", 1, "kernel") },
            errors.Select(x => x.At!).OrderBy(p => p).ToArray());
    }

    [Fact]
    public void Strict_mode_with_a_custom_replace()
    {
        var s = Models.Layers();
        var r = s.ReplaceByPureDict(s.ToPureDict(), (cur, v) => cur, strict: true);
        Assert.Equal(s, r);
        Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((0, D(("kernel", 1)))), (cur, v) => cur, strict: true));
    }

    [Fact]
    public void All_dictionary_shapes_are_accepted()
    {
        var s = Models.Layers();
        var expected = s.SetItem(KeyPath.Of(1, "kernel"), new Param(9));

        var hashtable = new Hashtable { [1] = new Hashtable { ["kernel"] = 9 } };
        Assert.Equal(expected, s.ReplaceByPureDict(hashtable));

        var stringKeyed = new Dictionary<string, object?> { ["1"] = new Dictionary<string, object?> { ["kernel"] = 9 } };
        Assert.Equal(expected, s.ReplaceByPureDict(stringKeyed));

        IReadOnlyDictionary<string, object?> readOnly = new ReadOnlyOnly([new("1", new ReadOnlyOnly([new("kernel", 9)]))]);
        Assert.Equal(expected, s.ReplaceByPureDict(readOnly));

        var mixed = new Dictionary<object, object?> { [1] = new Dictionary<string, object?> { ["kernel"] = 9 } };
        Assert.Equal(expected, s.ReplaceByPureDict(mixed));

        var sorted = new SortedDictionary<string, object?> { ["1"] = new SortedList<string, object?> { ["kernel"] = 9 } };
        // SortedDictionary implements both dictionary interfaces, so the caller picks one.
        Assert.Equal(expected, s.ReplaceByPureDict((IDictionary)sorted));
    }

    [Fact]
    public void A_key_that_is_neither_int_nor_string_is_an_error_not_a_crash()
    {
        var s = Models.Layers();
        Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((1L, D(("kernel", 1))))));
        Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(D((Guid.Empty, 1))));
    }

    [Fact]
    public void A_failing_replace_changes_nothing_and_returns_no_partial_result()
    {
        var s = Net();
        var pure = D(("step", 100), ("nope", 1));
        Assert.Throws<ArgumentException>(() => s.ReplaceByPureDict(pure));
        Assert.Equal(Net(), s);
        Assert.True(s.TryReplaceByPureDict(pure).IsFail);
    }

    [Fact]
    public void Replace_drops_empty_sub_states_like_every_pure_dict_round_trip()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        Assert.Equal(Models.Layers(), s.ReplaceByPureDict(s.ToPureDict()));
    }

    // ---- RestoreIntPaths --------------------------------------------------------------------

    [Fact]
    public void RestoreIntPaths_turns_canonical_int_strings_into_ints_at_every_depth()
    {
        var pure = D(("layers", D(("0", D(("kernel", 1))), ("-3", D(("kernel", 2))), ("17", 3))), ("10", "ten"));
        var r = State.RestoreIntPaths(pure);
        Assert.Equal(new HashSet<object> { "layers", 10 }, r.Keys.ToHashSet());
        Assert.Equal("ten", r[10]);
        var layers = Assert.IsType<Dictionary<object, object?>>(r["layers"]);
        Assert.Equal(new object[] { 0, -3, 17 }.OrderBy(x => x), layers.Keys.OrderBy(x => x));
        Assert.Equal(1, ((Dictionary<object, object?>)layers[0]!)["kernel"]);
        Assert.Equal(2, ((Dictionary<object, object?>)layers[-3]!)["kernel"]);
    }

    [Fact]
    public void RestoreIntPaths_leaves_non_canonical_strings_alone()
    {
        var texts = new[] { "05", "+4", " 2 ", "1_000", "1.5", "2147483648", "-2147483649", "00", "-0", "", "0x1", "١" };
        var pure = D(texts.Select(t => ((object)t, (object?)t)).ToArray());
        var r = State.RestoreIntPaths(pure);
        Assert.All(r.Keys, k => Assert.IsType<string>(k));
        Assert.Equal(texts.OrderBy(t => t, StringComparer.Ordinal), r.Keys.Cast<string>().OrderBy(t => t, StringComparer.Ordinal));
        var bounds = State.RestoreIntPaths(D(("2147483647", 1), ("-2147483648", 2)));
        Assert.Equal(1, bounds[int.MaxValue]);
        Assert.Equal(2, bounds[int.MinValue]);
    }

    [Fact]
    public void RestoreIntPaths_does_not_change_its_input()
    {
        var inner = D(("0", 1));
        var pure = D(("1", inner), ("e", D()));
        var r = State.RestoreIntPaths(pure);
        Assert.Equal(new object[] { "1", "e" }, pure.Keys.ToArray());
        Assert.Equal(new object[] { "0" }, inner.Keys.ToArray());
        Assert.NotSame(pure, r);
        Assert.NotSame(inner, r[1]);
    }

    [Fact]
    public void RestoreIntPaths_drops_empty_sub_dicts()
    {
        var r = State.RestoreIntPaths(D(("a", D()), ("b", D(("c", D()))), ("d", 1)));
        Assert.Equal(new object[] { "d" }, r.Keys.ToArray());
    }

    [Fact]
    public void RestoreIntPaths_collision_names_the_path()
    {
        var e = Assert.Throws<ArgumentException>(() => State.RestoreIntPaths(D(("layers", D(("0", 1), (0, 2))))));
        Assert.Contains("('layers', 0)", e.Message);
        Assert.Equal("pureDict", e.ParamName);
    }

    [Fact]
    public void RestoreIntPaths_collision_on_string_keys_of_a_string_dictionary()
    {
        // A string-keyed dictionary cannot hold "0" twice, but "0" and "00" are different texts: no collision.
        var ok = State.RestoreIntPaths(new Dictionary<string, object?> { ["0"] = 1, ["00"] = 2 });
        Assert.Equal(1, ok[0]);
        Assert.Equal(2, ok["00"]);
    }

    [Fact]
    public void RestoreIntPaths_keeps_existing_int_keys_and_values_as_they_are()
    {
        var value = new float[] { 1 };
        var r = State.RestoreIntPaths(D((3, value), ("x", null)));
        Assert.Same(value, r[3]);
        Assert.True(r.ContainsKey("x"));
        Assert.Null(r["x"]);
    }

    [Fact]
    public void RestoreIntPaths_of_a_stringified_pure_dict_gives_back_the_pure_dict()
    {
        var s = Net();
        var pure = s.ToPureDict();
        var restored = State.RestoreIntPaths(StringKeyed(pure));
        AssertPureDictEqual(pure, restored);
    }

    [Fact]
    public void Replace_with_a_stringified_pure_dict_gives_back_the_state()
    {
        var s = Net();
        Assert.Equal(s, s.ReplaceByPureDict(StringKeyed(s.ToPureDict())));
    }

    [Fact]
    public void RestoreIntPaths_with_a_template_converts_exactly_where_the_template_has_int_keys()
    {
        // The template has a genuine string key "7" under "names" and int keys under "layers".
        var template = State.Create(new Models.Node
        {
            ["layers"] = new Models.Node { [0] = new Models.Node { ["w"] = 1 }, [1] = new Models.Node { ["w"] = 2 } },
            ["names"] = new Models.Node { ["7"] = "seven" },
            [3] = "three",
        });
        var pure = D(
            ("layers", D(("0", D(("w", 10))), ("1", D(("w", 20))), ("2", D(("w", 30))))),
            ("names", D(("7", "SEVEN"))),
            ("3", "THREE"),
            ("05", 1));
        var r = State.RestoreIntPaths(pure, template);
        Assert.Equal("THREE", r[3]);
        Assert.Equal(1, r["05"]);
        var layers = (Dictionary<object, object?>)r["layers"]!;
        Assert.Contains(0, layers.Keys);
        Assert.Contains(1, layers.Keys);
        Assert.Contains("2", layers.Keys);
        Assert.DoesNotContain(2, layers.Keys);
        var names = (Dictionary<object, object?>)r["names"]!;
        Assert.Equal("SEVEN", names["7"]);
    }

    [Fact]
    public void RestoreIntPaths_with_a_template_prefers_an_exact_string_key()
    {
        var template = State.Create(new Models.Node { [0] = 1, ["0"] = 2 });
        var r = State.RestoreIntPaths(D(("0", 20)), template);
        Assert.Equal(new object[] { "0" }, r.Keys.ToArray());
    }

    [Fact]
    public void RestoreIntPaths_with_a_template_does_not_convert_where_the_template_has_a_leaf()
    {
        var template = State.Create(new Models.Node { ["x"] = 1 });
        var r = State.RestoreIntPaths(D(("x", D(("0", 1)))), template);
        Assert.Equal(new object[] { "0" }, ((Dictionary<object, object?>)r["x"]!).Keys.ToArray());
    }

    [Fact]
    public void RestoreIntPaths_accepts_every_dictionary_shape()
    {
        var expected = D(("a", D((0, 1))));
        AssertPureDictEqual(expected, State.RestoreIntPaths(new Hashtable { ["a"] = new Hashtable { ["0"] = 1 } }));
        AssertPureDictEqual(expected, State.RestoreIntPaths(new Dictionary<string, object?> { ["a"] = new Dictionary<string, object?> { ["0"] = 1 } }));
        AssertPureDictEqual(expected, State.RestoreIntPaths((IReadOnlyDictionary<string, object?>)new ReadOnlyOnly([new("a", new ReadOnlyOnly([new("0", 1)]))])));
        var template = State.Create(new Models.Node { ["a"] = new Models.Node { [0] = 5 } });
        AssertPureDictEqual(expected, State.RestoreIntPaths(new Hashtable { ["a"] = new Hashtable { ["0"] = 1 } }, template));
        AssertPureDictEqual(expected, State.RestoreIntPaths(new Dictionary<string, object?> { ["a"] = new Dictionary<string, object?> { ["0"] = 1 } }, template));
    }

    [Fact]
    public void Null_arguments_throw_naming_the_parameter()
    {
        var s = Models.Layers();
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.ReplaceByPureDict((Dictionary<object, object?>)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.ReplaceByPureDict((Dictionary<string, object?>)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.ReplaceByPureDict((IDictionary)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.ReplaceByPureDict((IReadOnlyDictionary<string, object?>)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.ReplaceByPureDict((System.Text.Json.Nodes.JsonObject)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => s.TryReplaceByPureDict((Dictionary<object, object?>)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => State.RestoreIntPaths((Dictionary<object, object?>)null!)).ParamName);
        Assert.Equal("pureDict", Assert.Throws<ArgumentNullException>(() => State.RestoreIntPaths((IDictionary)null!)).ParamName);
        Assert.Equal("template", Assert.Throws<ArgumentNullException>(() => State.RestoreIntPaths(D(), null!)).ParamName);
    }

    // ---- helpers ----------------------------------------------------------------------------

    /// <summary>What a JSON round trip does to keys: every key becomes its text.</summary>
    internal static Dictionary<string, object?> StringKeyed(Dictionary<object, object?> pure)
    {
        var d = new Dictionary<string, object?>();
        foreach (var (k, v) in pure)
            d.Add(k.ToString()!, v is Dictionary<object, object?> sub ? StringKeyed(sub) : v);
        return d;
    }

    internal static void AssertPureDictEqual(Dictionary<object, object?> expected, Dictionary<object, object?> actual)
    {
        Assert.Equal(expected.Keys.ToHashSet(), actual.Keys.ToHashSet());
        foreach (var (k, v) in expected)
        {
            if (v is Dictionary<object, object?> sub)
                AssertPureDictEqual(sub, Assert.IsType<Dictionary<object, object?>>(actual[k]));
            else
                Assert.Equal(v, actual[k]);
        }
    }
}
