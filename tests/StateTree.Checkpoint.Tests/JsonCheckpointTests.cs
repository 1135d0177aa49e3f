using System.Numerics.Tensors;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;

namespace StateTree.Checkpoint.Tests;

/// <summary>A nested dictionary literal, the form State.Create reads as sub-states.</summary>
file sealed class Node : Dictionary<PathKey, object?>;

/// <summary>A user-defined variable type: loads must keep it with no code here.</summary>
file sealed class LoraParam : Param
{
    public LoraParam(object? value) : base(value) { }
}

// JsonCheckpoint: the pure dict of SPEC §4.6 and the Flax workflow of §5, through files.
public sealed class JsonCheckpointTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("statetree-json-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string PathOf(string name) => Path.Combine(folder, name);

    private static State Model() => State.Create(new Node
    {
        ["batchnorm"] = new Node
        {
            ["bias"] = new Param(new float[] { 0, 0, 0 }),
            ["scale"] = new Param(new float[] { 1, 1, 1 }),
            ["mean"] = new BatchStat(new float[] { 0.5f, -0.25f, 2 }),
            ["var"] = new BatchStat(new float[] { 1, 1.5f, 1 }),
        },
        ["linear"] = new Node
        {
            ["bias"] = new Param(new float[] { 0.1f, -0.1f }),
            ["kernel"] = new Param(new float[] { 0.5f, -0.5f, 0.25f, 1.5f, 2, -1 }),
        },
    });

    /// <summary>The same structure with every value zeroed: what a freshly built model holds.</summary>
    private static State Fresh(State s) => s.Map((_, leaf) => leaf is Variable { Value: float[] a } v ? v.WithValue(new float[a.Length]) : leaf);

    private static State Layers() => State.Create(new Node
    {
        ["layers"] = new Node
        {
            [0] = new Node { ["kernel"] = new Param(new float[] { 1, 2 }) },
            [1] = new Node { ["kernel"] = new Param(new float[] { 3, 4 }) },
        },
    });

    // ---- README ----

    [Fact]
    public void Readme_json_checkpoints()
    {
        var dir = folder;
        State state = Model();
        State template = Fresh(state);

        // README: JSON checkpoints
        JsonCheckpoint.Save(state, Path.Combine(dir, "state.json"));
        State again = JsonCheckpoint.Load(Path.Combine(dir, "state.json"), template);   // float[] stays float[], Params stay Params
        State raw = JsonCheckpoint.Load(Path.Combine(dir, "state.json"));                // no template: doubles, double[]
        var pure = JsonCheckpoint.LoadPureDict(Path.Combine(dir, "state.json"));         // Flax: restore_int_paths(json.load(f))
        State same = template.ReplaceByPureDict(pure);
        // end README

        Assert.Equal(state, again);
        Assert.Equal(state, same);
        Assert.Equal(new double[] { 0.5, -0.5, 0.25, 1.5, 2, -1 }, (double[])raw[KeyPath.Of("linear", "kernel")]!);
    }

    [Fact]
    public void Readme_flax_workflow_with_a_list_of_layers_restores_int_keys()
    {
        var state = Layers();
        var file = PathOf("layers.json");
        JsonCheckpoint.Save(state, file);

        Assert.Equal("""{"layers":{"0":{"kernel":[1,2]},"1":{"kernel":[3,4]}}}""", File.ReadAllText(file));
        var raw = JsonCheckpoint.Load(file);
        var layers = (State)raw["layers"]!;
        Assert.Equal(new PathKey[] { 0, 1 }, layers.Keys);
        Assert.Equal(new double[] { 3, 4 }, (double[])raw[KeyPath.Of("layers", 1, "kernel")]!);

        var pure = JsonCheckpoint.LoadPureDict(file);
        Assert.IsType<int>(((Dictionary<object, object?>)pure["layers"]!).Keys.First());
        Assert.Equal(state, Fresh(state).ReplaceByPureDict(pure));
        Assert.Equal(state, JsonCheckpoint.Load(file, Fresh(state)));
    }

    // ---- what the file holds ----

    [Fact]
    public void Writes_keys_in_path_order_and_values_by_their_json_types()
    {
        var state = State.Create(new Node
        {
            ["b"] = new Node { [10] = 1, [2] = 2, ["x"] = 3 },
            ["a"] = "text",
            ["c"] = true,
            ["d"] = null,
            ["e"] = new Node(),
            ["f"] = new BatchStat(2.5),
        });
        var file = PathOf("order.json");
        JsonCheckpoint.Save(state, file);

        Assert.Equal("""{"a":"text","b":{"2":2,"10":1,"x":3},"c":true,"d":null,"f":2.5}""", File.ReadAllText(file));
    }

    [Fact]
    public void Multi_dimensional_arrays_and_tensors_are_written_as_nested_arrays_and_read_back_by_template()
    {
        var state = State.Create(new Node
        {
            ["m"] = new Param(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } }),
            ["t"] = new Param(Tensor.Create(new float[] { 1, 2, 3, 4, 5, 6 }, [3, 2])),
            ["h"] = new Param(new Half[] { (Half)1.5, (Half)(-2) }),
        });
        var file = PathOf("shaped.json");
        JsonCheckpoint.Save(state, file);

        Assert.Equal("""{"h":[1.5,-2],"m":[[1,2,3],[4,5,6]],"t":[[1,2],[3,4],[5,6]]}""", File.ReadAllText(file));
        var template = State.Create(new Node
        {
            ["m"] = new Param(new float[2, 3]),
            ["t"] = new Param(Tensor.Create(new float[6], [3, 2])),
            ["h"] = new Param(new Half[2]),
        });
        Assert.Equal(state, JsonCheckpoint.Load(file, template));

        var raw = JsonCheckpoint.Load(file);
        Assert.Equal(new double[,] { { 1, 2, 3 }, { 4, 5, 6 } }, (double[,])raw["m"]!);
        Assert.Equal(new double[,] { { 1, 2 }, { 3, 4 }, { 5, 6 } }, (double[,])raw["t"]!);
    }

    [Fact]
    public void Nan_and_infinities_round_trip_through_a_template()
    {
        var state = State.Create(new Node
        {
            ["mask"] = new Param(new float[] { 0, float.NegativeInfinity, float.NaN, float.PositiveInfinity }),
            ["loss"] = double.NaN,
        });
        var file = PathOf("nan.json");
        JsonCheckpoint.Save(state, file);

        Assert.Equal("""{"loss":"NaN","mask":[0,"-Infinity","NaN","Infinity"]}""", File.ReadAllText(file));
        var template = State.Create(new Node { ["mask"] = new Param(new float[4]), ["loss"] = 0.0 });
        Assert.Equal(state, JsonCheckpoint.Load(file, template));
    }

    [Fact]
    public void Keys_with_quotes_slashes_dots_and_unicode_round_trip()
    {
        var state = State.Create(new Node
        {
            ["it's \"quoted\""] = 1.0,
            ["a/b.c"] = new Node { ["ключ"] = 2.0, ["05"] = 3.0, [-3] = 4.0 },
        });
        var file = PathOf("keys.json");
        JsonCheckpoint.Save(state, file);

        Assert.Equal(state, JsonCheckpoint.Load(file));
        Assert.Equal(state, JsonCheckpoint.Load(file, state));
    }

    // ---- reading without a template ----

    [Fact]
    public void Without_a_template_leaves_take_json_types()
    {
        File.WriteAllText(PathOf("natural.json"), """
            {
              "int": 7, "real": 2.5, "text": "hi", "yes": true, "nothing": null,
              "numbers": [1, 2.5], "texts": ["a", "b"], "flags": [true, false], "empty": [],
              "matrix": [[1, 2], [3, 4]], "ragged": [[1], [2, 3]], "mixed": [1, "a", null],
              "skipped": {}
            }
            """);
        var state = JsonCheckpoint.Load(PathOf("natural.json"));

        Assert.Equal(7.0, state["int"]);
        Assert.Equal(2.5, state["real"]);
        Assert.Equal("hi", state["text"]);
        Assert.Equal(true, state["yes"]);
        Assert.Null(state["nothing"]);
        Assert.Equal(new[] { 1, 2.5 }, state["numbers"]);
        Assert.Equal(new[] { "a", "b" }, state["texts"]);
        Assert.Equal(new[] { true, false }, state["flags"]);
        Assert.Equal(Array.Empty<double>(), state["empty"]);
        Assert.Equal(new double[,] { { 1, 2 }, { 3, 4 } }, state["matrix"]);
        var ragged = Assert.IsType<object?[]>(state["ragged"]);
        Assert.Equal(new double[] { 2, 3 }, ragged[1]);
        Assert.Equal(new object?[] { 1.0, "a", null }, state["mixed"]);
        Assert.False(state.ContainsKey("skipped"));
    }

    [Fact]
    public void Only_canonical_integer_keys_become_ints()
    {
        File.WriteAllText(PathOf("keys.json"), """{"0": 1, "05": 2, "-3": 3, "+4": 4, " 2 ": 5, "1.5": 6, "99999999999": 7}""");
        var state = JsonCheckpoint.Load(PathOf("keys.json"));

        Assert.Equal(new PathKey[] { -3, 0, " 2 ", "+4", "05", "1.5", "99999999999" }, state.Keys);
    }

    // ---- reading with a template ----

    [Fact]
    public void A_template_gives_values_its_types_and_variables_keep_type_and_metadata()
    {
        var template = State.Create(new Node
        {
            ["step"] = 0,
            ["count"] = new BatchStat(0L),
            ["lora"] = new LoraParam(new float[2]).WithMetadata("rank", 4),
            ["name"] = new Cache(""),
            ["free"] = new Param(null),
        });
        File.WriteAllText(PathOf("typed.json"), """{"step": 1000, "count": 12, "lora": [0.5, 1], "name": "run-1", "free": [1, 2]}""");
        var state = JsonCheckpoint.Load(PathOf("typed.json"), template);

        Assert.Equal(1000, state["step"]);
        Assert.Equal(new BatchStat(12L), state["count"]);
        var lora = Assert.IsType<LoraParam>(state["lora"]);
        Assert.Equal(new float[] { 0.5f, 1 }, lora.Value);
        Assert.Equal(4, lora.Metadata["rank"]);
        Assert.Equal(new Cache("run-1"), state["name"]);
        Assert.Equal(new Param(new double[] { 1, 2 }), state["free"]);
    }

    [Fact]
    public void Leaves_the_file_does_not_mention_keep_their_template_values_unless_strict()
    {
        var template = Model();
        File.WriteAllText(PathOf("partial.json"), """{"linear": {"bias": [7, 8]}}""");

        var state = JsonCheckpoint.Load(PathOf("partial.json"), template);
        Assert.Equal(template.SetItem(KeyPath.Of("linear", "bias"), new Param(new float[] { 7, 8 })), state);

        var e = Assert.Throws<LoadMismatchException>(() => JsonCheckpoint.Load(PathOf("partial.json"), template, strict: true));
        Assert.Equal(PathOf("partial.json"), e.FilePath);
        Assert.Equal(5, e.Problems.Count);
        Assert.All(e.Problems, p => Assert.Equal(LoadProblemKind.Missing, p.Kind));
        Assert.Contains("('batchnorm', 'bias')", e.Message);
        Assert.Contains("('linear', 'kernel')", e.Message);
    }

    [Fact]
    public void Unknown_paths_unreadable_values_and_wrong_shapes_are_all_listed_with_the_file()
    {
        var template = Layers().SetItem(KeyPath.Of("step"), 0);
        var file = PathOf("bad.json");
        File.WriteAllText(file, """
            {"layers": {"0": {"kernel": [1, 2, 3]}, "1": {"kernel": "oops"}, "5": {"kernel": [1, 2]}},
             "step": 1.5, "extra": {"a": 1, "b": 2}}
            """);

        var e = Assert.Throws<LoadMismatchException>(() => JsonCheckpoint.Load(file, template));

        Assert.Equal(file, e.FilePath);
        Assert.Equal(
            new[]
            {
                "Unexpected ('extra', 'a')",
                "Unexpected ('extra', 'b')",
                "Unexpected ('layers', '5', 'kernel')",
                "ShapeMismatch ('layers', 0, 'kernel'): checkpoint [3], template [2]",
                "DtypeMismatch ('layers', 1, 'kernel')",
                "DtypeMismatch ('step',)",
            },
            e.Problems.Select(p => p.Kind == LoadProblemKind.DtypeMismatch ? $"{p.Kind} {p.Path.ToTupleString()}" : $"{p.Kind} {p}"));
        var lines = e.Message.Split('\n');
        Assert.Equal($"Error(s) in loading '{file}' into the template (6 problems):", lines[0]);
        Assert.Equal("  Unexpected paths (in the checkpoint, not in the template): 3", lines[1]);
        Assert.Equal("    ('layers', '5', 'kernel')", lines[4]);
        Assert.Equal("  Shape mismatches: 1", lines[5]);
        Assert.Equal("  Dtype mismatches: 2", lines[7]);
        Assert.StartsWith("    ('layers', 1, 'kernel'): checkpoint a JSON string that cannot be read as Single[] (", lines[8]);
        Assert.EndsWith("), template F32", lines[8]);
        Assert.StartsWith("    ('step',): checkpoint a JSON number that cannot be read as Int32 (", lines[9]);
        Assert.EndsWith("), template I32", lines[9]);
        Assert.Equal(10, lines.Length);
    }

    [Fact]
    public void A_file_nesting_a_leaf_of_the_template_or_flattening_a_sub_state_is_unexpected()
    {
        var template = State.Create(new Node { ["a"] = new Param(1.0), ["b"] = new Node { ["c"] = new Param(2.0) } });
        File.WriteAllText(PathOf("shape.json"), """{"a": {"x": 1}, "b": 3}""");

        var e = Assert.Throws<LoadMismatchException>(() => JsonCheckpoint.Load(PathOf("shape.json"), template));

        Assert.Equal(
            new[] { "('a', 'x')", "('b',)" },
            e.Problems.Select(p => p.ToString()));
    }

    [Fact]
    public void Json_load_into_reports_under_lenient_options()
    {
        var template = Layers();
        File.WriteAllText(PathOf("lenient.json"), """{"layers": {"0": {"kernel": [9, 9]}, "1": {"kernel": [1]}, "2": {"kernel": [0, 0]}}}""");

        var (state, report) = JsonCheckpoint.LoadInto(template, PathOf("lenient.json"), LoadOptions.Lenient);

        Assert.Equal(template.SetItem(KeyPath.Of("layers", 0, "kernel"), new Param(new float[] { 9, 9 })), state);
        Assert.Equal(1, report.LoadedCount);
        // The template has no int key 2, so the file's "2" stays a string, as the file gave it.
        Assert.Equal(new[] { KeyPath.Of("layers", "2", "kernel") }, report.Unexpected);
        Assert.Equal("('layers', 1, 'kernel'): checkpoint [1], template [2]", Assert.Single(report.ShapeMismatches).ToString());
    }

    [Fact]
    public void The_template_decides_which_keys_are_ints()
    {
        // The template keeps a genuine string key "7" next to int keys.
        var template = State.Create(new Node { [0] = new Param(0.0), ["7"] = new Param(0.0) });
        File.WriteAllText(PathOf("mixed.json"), """{"0": 1.5, "7": 2.5}""");

        var pure = JsonCheckpoint.LoadPureDict(PathOf("mixed.json"), template);
        Assert.Equal(new object[] { 0, "7" }, pure.Keys);
        Assert.Equal(new object[] { 0, 7 }, JsonCheckpoint.LoadPureDict(PathOf("mixed.json")).Keys);

        var state = JsonCheckpoint.Load(PathOf("mixed.json"), template);
        Assert.Equal(State.Create(new Node { [0] = new Param(1.5), ["7"] = new Param(2.5) }), state);
    }

    // ---- bad files ----

    [Theory]
    [InlineData("{\"a\": 1,", "is not a JSON checkpoint")]
    [InlineData("[1, 2]", "its root is a JSON array, not an object")]
    [InlineData("{\"a\": 1, \"a\": 2}", "is not a JSON checkpoint")]
    [InlineData("", "is not a JSON checkpoint")]
    public void A_file_that_is_not_a_json_object_is_invalid_data_naming_the_file(string text, string expected)
    {
        var file = PathOf("broken.json");
        File.WriteAllText(file, text);

        var e = Assert.Throws<InvalidDataException>(() => JsonCheckpoint.Load(file));
        Assert.Contains($"'{file}'", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Throws<InvalidDataException>(() => JsonCheckpoint.Load(file, Layers()));
        Assert.Throws<InvalidDataException>(() => JsonCheckpoint.LoadPureDict(file));
    }

    [Fact]
    public void A_missing_file_is_file_not_found()
    {
        Assert.Throws<FileNotFoundException>(() => JsonCheckpoint.Load(PathOf("absent.json")));
    }

    // ---- saving: faithful or nothing ----

    [Fact]
    public void Saving_keys_that_would_collide_fails_naming_every_path_and_writes_nothing()
    {
        var state = State.Create(new Node
        {
            ["a"] = new Node { [0] = 1.0, ["0"] = 2.0 },
            ["b"] = new Node { [1] = new Node { ["x"] = 1.0 }, ["1"] = new Node { ["y"] = 2.0 } },
            ["ok"] = 3.0,
        });
        var file = PathOf("collide.json");

        var e = Assert.Throws<ArgumentException>(() => JsonCheckpoint.Save(state, file));

        Assert.Equal("state", e.ParamName);
        Assert.Equal(
            $"""
            Cannot save the state to the JSON checkpoint '{file}':
              ('a', 0) and ('a', '0'): both keys would be written as "0".
              ('b', 1) and ('b', '1'): both keys would be written as "1". (Parameter 'state')
            """.ReplaceLineEndings("\n"),
            e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    private sealed record Point(double X, double Y);

    [Fact]
    public void Saving_a_value_that_json_writes_as_an_object_fails_and_keeps_the_old_file()
    {
        var file = PathOf("model.json");
        File.WriteAllText(file, "{\"old\": 1}");
        var state = State.Create(new Node
        {
            ["p"] = new Param(new Point(1, 2)),
            ["q"] = new Param(new Dictionary<string, int> { ["a"] = 1 }),
            ["r"] = new[] { new Point(3, 4) },
            ["ok"] = 1.0,
        });

        var e = Assert.Throws<ArgumentException>(() => JsonCheckpoint.Save(state, file));

        Assert.Equal(
            $"""
            Cannot save the state to the JSON checkpoint '{file}':
              ('p',): a Point is written as a JSON object and would load back as a sub-state.
              ('q',): a Dictionary<String, Int32> is written as a JSON object and would load back as a sub-state.
              ('r',): a Point is written as a JSON object and would load back as a sub-state. (Parameter 'state')
            """.ReplaceLineEndings("\n"),
            e.Message);
        Assert.Equal("{\"old\": 1}", File.ReadAllText(file));
        Assert.Single(Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void Saving_replaces_the_target_and_leaves_no_temporary_file()
    {
        var file = PathOf("model.json");
        File.WriteAllText(file, "old");
        JsonCheckpoint.Save(Layers(), file);
        JsonCheckpoint.Save(Model(), file);

        Assert.Equal(Model(), JsonCheckpoint.Load(file, Fresh(Model())));
        Assert.Equal(new[] { file }, Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void Saving_into_a_missing_folder_names_it()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => JsonCheckpoint.Save(Layers(), PathOf("no/such/model.json")));
        Assert.Contains(PathOf("no/such"), e.Message);
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.Save(null!, PathOf("x.json")));
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.Save(State.Empty, null!));
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.Load(null!));
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.Load(PathOf("x.json"), null!));
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.LoadPureDict(null!));
        Assert.Throws<ArgumentNullException>(() => JsonCheckpoint.LoadInto(null!, PathOf("x.json")));
    }

    [Fact]
    public void The_empty_state_round_trips_as_an_empty_object()
    {
        var file = PathOf("empty.json");
        JsonCheckpoint.Save(State.Empty, file);
        Assert.Equal("{}", File.ReadAllText(file));
        Assert.Equal(State.Empty, JsonCheckpoint.Load(file));
    }

    [Fact]
    public void A_state_of_depth_10000_round_trips_on_a_1_MB_stack()
    {
        var keys = Enumerable.Range(0, 10_000).Select(i => i % 2 == 0 ? (PathKey)$"k{i}" : i).ToArray();
        var state = State.Empty.SetItem(KeyPath.Of(keys), 1.5);
        var file = PathOf("deep.json");
        State? loaded = null;
        State? typed = null;
        Exception? failure = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    JsonCheckpoint.Save(state, file);
                    loaded = JsonCheckpoint.Load(file);
                    typed = JsonCheckpoint.Load(file, state);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            },
            1 << 20);
        thread.Start();
        thread.Join();

        Assert.Null(failure);
        Assert.Equal(state, loaded);
        Assert.Equal(state, typed);
    }

    // ---- properties ----

    private static readonly PathKey[] KeyPool = [0, 1, 2, 10, -3, "a", "b", "kernel", "05", "7", "x.y", "q\"uote"];

    private static Gen<object?> LeafGen() => Gen.OneOf(
        Gen.Choose(-1000, 1000).Select(i => (object?)i),
        Gen.Choose(-1000, 1000).Select(i => (object?)(i / 8.0)),
        Gen.Elements<object?>(double.NaN, double.PositiveInfinity, -0.0, 1e300, 5e-324, float.NegativeInfinity, long.MaxValue),
        Gen.Elements<object?>("", "text", "ünï\"cøde", null, true, false),
        Gen.Choose(0, 4).SelectMany(n => Gen.ArrayOf(Gen.Choose(-100, 100).Select(i => i / 4f), n)).Select(a => (object?)a),
        Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(Gen.Choose(-9, 9).Select(i => (long)i), n)).Select(a => (object?)a),
        Gen.Choose(-50, 50).Select(i => (object?)new Param(i / 2.0)),
        Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(Gen.Choose(-9, 9).Select(i => (float)i), n)).Select(a => (object?)new BatchStat(a)));

    /// <summary>States of up to 12 leaves at depths 1–4 over a small key pool (ints, canonical and non-canonical digit strings).</summary>
    private static Gen<State> StateGen() =>
        Gen.Sized(size =>
            Gen.ListOf(
                    Gen.Choose(1, 4).SelectMany(depth => Gen.ArrayOf(Gen.Elements(KeyPool), depth))
                        .SelectMany(path => LeafGen().Select(leaf => (KeyPath.Of(path), leaf))),
                    Math.Min(size, 12))
                .Select(pairs =>
                {
                    // Keep a prefix-free set of paths (the later one wins), and drop paths whose keys would collide in JSON.
                    var state = State.Empty;
                    foreach (var (path, leaf) in pairs)
                    {
                        try
                        {
                            state = state.SetItem(path, leaf);
                        }
                        catch (ArgumentException)
                        {
                        }
                    }

                    return state.Filter(Filter.Where((p, _) => !Collides(state, p)));
                }));

    private static bool Collides(State state, KeyPath path)
    {
        var keys = path.ToArray();
        for (var d = 0; d < keys.Length; d++)
        {
            var parent = d == 0 ? state : (State)state[KeyPath.Of(keys[..d])]!;
            if (Twin(keys[d]) is { } twin && parent.ContainsKey(twin))
                return true;
        }

        return false;
    }

    /// <summary>The other key JSON writes with the same text: "3" for 3, 3 for "3"; null when there is none.</summary>
    private static PathKey? Twin(PathKey key)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (key.IsIndex)
            return key.Index.ToString(invariant);
        return int.TryParse(key.Name, invariant, out var n) && n.ToString(invariant) == key.Name ? n : null;
    }

    private static IEnumerable<State> Shrink(State s) =>
        s.Flatten().Select(p => s.Remove(p.Path)).Where(r => r.LeafCount < s.LeafCount).Select(r => r.Filter(Filter.Everything));

    [Fact]
    public void Property_save_then_load_with_the_state_as_template_gives_the_state_back()
    {
        var file = PathOf("property.json");
        Prop.ForAll(
                Arb.From(StateGen(), Shrink),
                state =>
                {
                    JsonCheckpoint.Save(state, file);
                    return JsonCheckpoint.Load(file, state) == state;
                })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Property_load_without_template_gives_the_paths_with_canonical_digit_strings_as_ints()
    {
        var file = PathOf("paths.json");
        Prop.ForAll(
                Arb.From(StateGen(), Shrink),
                state =>
                {
                    JsonCheckpoint.Save(state, file);
                    var expected = state.Flatten().Select(p => KeyPath.Of(p.Path.Select(k => !k.IsIndex && k.Name == "7" ? 7 : k).ToArray()));
                    return JsonCheckpoint.Load(file).Flatten().Select(p => p.Path).SequenceEqual(expected.Order());
                })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(200));
    }

    [Fact]
    public void Writes_utf8_without_a_byte_order_mark()
    {
        var file = PathOf("utf8.json");
        JsonCheckpoint.Save(State.Create(new Node { ["ключ"] = "значение" }), file);
        var bytes = File.ReadAllBytes(file);
        Assert.NotEqual(0xEF, bytes[0]);
        using var doc = JsonDocument.Parse(bytes);
        Assert.Equal("значение", doc.RootElement.GetProperty("ключ").GetString());
        Assert.Equal(State.Create(new Node { ["ключ"] = "значение" }), JsonCheckpoint.Load(file));
    }
}
