namespace StateTree.CSharp.Tests;

// SPEC §4.1: building and reading a state; persistence; equality and hashing (§1).
public class BuildingAndReadingTests
{
    [Fact]
    public void Empty_is_one_shared_empty_state()
    {
        Assert.Same(State.Empty, State.Empty);
        Assert.Equal(0, State.Empty.Count);
        Assert.Equal(0, State.Empty.LeafCount);
        Assert.Empty(State.Empty.Flatten());
        Assert.Equal(State.Empty, State.Create([]));
    }

    [Fact]
    public void Nested_dictionaries_read_as_a_literal()
    {
        var s = State.Create(new Dictionary<PathKey, object?>
        {
            ["linear"] = new Dictionary<PathKey, object?> { ["kernel"] = new Param(1), ["bias"] = new Param(0) },
            ["count"] = 3,
        });
        Assert.Equal(2, s.Count);
        Assert.Equal(3, s.LeafCount);
        var linear = Assert.IsType<State>(s["linear"]);
        Assert.Equal(new Param(1), linear["kernel"]);
        Assert.Equal(3, s["count"]);
    }

    [Fact]
    public void Any_dictionary_becomes_a_sub_state_and_a_State_value_is_grafted()
    {
        var sub = State.Create(new Models.Node { ["w"] = 1 });
        var s = State.Create(new Models.Node
        {
            ["a"] = new Dictionary<string, object?> { ["x"] = 1, ["y"] = new Dictionary<int, object?> { [0] = 2 } },
            ["b"] = new Dictionary<int, object?> { [3] = "three" },
            ["c"] = sub,
            ["d"] = new System.Collections.Hashtable { ["h"] = 4 },
        });
        Assert.Equal(1, s[KeyPath.Of("a", "x")]);
        Assert.Equal(2, s[KeyPath.Of("a", "y", 0)]);
        Assert.Equal("three", s[KeyPath.Of("b", 3)]);
        Assert.Equal(1, s[KeyPath.Of("c", "w")]);
        Assert.Equal(sub, s["c"]);
        Assert.Equal(4, s[KeyPath.Of("d", "h")]);
        Assert.Equal(5, s.LeafCount);
    }

    [Fact]
    public void A_repeated_key_in_Create_later_wins()
    {
        var s = State.Create([new(0, "first"), new(0, "second")]);
        Assert.Equal(1, s.Count);
        Assert.Equal("second", s[0]);
    }

    [Fact]
    public void The_indexer_by_key_and_by_path()
    {
        var s = Models.BatchNormLinear();
        Assert.IsType<State>(s["batchnorm"]);
        Assert.Equal(new BatchStat(new float[] { 0, 0, 0 }), s[KeyPath.Of("batchnorm", "mean")]);
        Assert.Same(s, s[KeyPath.Empty]);
        Assert.Equal(s["linear"], s[KeyPath.Of("linear")]);
    }

    [Fact]
    public void The_indexer_throws_KeyNotFoundException_naming_the_key()
    {
        var s = Models.Layers();
        var e = Assert.Throws<KeyNotFoundException>(() => s["layers"]);
        Assert.Contains("'layers'", e.Message);
        var i = Assert.Throws<KeyNotFoundException>(() => s[7]);
        Assert.Contains("7", i.Message);
        // The int 0 is there, the string "0" is not: the message must show which one was asked for.
        var t = Assert.Throws<KeyNotFoundException>(() => s["0"]);
        Assert.Contains("'0'", t.Message);
        var p = Assert.Throws<KeyNotFoundException>(() => s[KeyPath.Of(0, "bias")]);
        Assert.Contains("(0, 'bias')", p.Message);
        Assert.Throws<KeyNotFoundException>(() => s[KeyPath.Of(0, "kernel", "deeper")]);
    }

    [Fact]
    public void TryGetValue_and_ContainsKey()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("nothing"), null);
        Assert.True(s.TryGetValue(0, out var layer));
        Assert.IsType<State>(layer);
        Assert.False(s.TryGetValue("0", out var missing));
        Assert.Null(missing);
        Assert.True(s.TryGetValue("nothing", out var nullLeaf));
        Assert.Null(nullLeaf);
        Assert.True(s.TryGetValue(KeyPath.Of(1, "kernel"), out var kernel));
        Assert.Equal(new Param(2), kernel);
        Assert.False(s.TryGetValue(KeyPath.Of(1, "bias"), out _));
        Assert.True(s.TryGetValue(KeyPath.Empty, out var root));
        Assert.Same(s, root);
        Assert.True(s.ContainsKey(0));
        Assert.True(s.ContainsKey("nothing"));
        Assert.False(s.ContainsKey("0"));
    }

    [Fact]
    public void Count_is_direct_children_and_LeafCount_is_all_leaves()
    {
        var s = Models.BatchNormLinear();
        Assert.Equal(2, s.Count);
        Assert.Equal(6, s.LeafCount);
        var withEmpty = s.SetItem(KeyPath.Of("empty"), State.Empty);
        Assert.Equal(3, withEmpty.Count);
        Assert.Equal(6, withEmpty.LeafCount);
    }

    [Fact]
    public void A_state_is_a_read_only_dictionary_of_its_direct_children()
    {
        IReadOnlyDictionary<PathKey, object?> d = Models.BatchNormLinear();
        Assert.Equal(2, d.Count);
        Assert.Equal(new PathKey[] { "batchnorm", "linear" }, d.Keys.ToArray());
        Assert.All(d.Values, v => Assert.IsType<State>(v));
        Assert.Equal(new PathKey[] { "batchnorm", "linear" }, d.Select(kv => kv.Key).ToArray());
        Assert.True(d.ContainsKey("linear"));
    }

    [Fact]
    public void SetItem_is_persistent_and_creates_missing_parents()
    {
        var s = Models.Layers();
        var before = s.ToString();
        var t = s.SetItem(KeyPath.Of(2, "kernel"), new Param(3));
        Assert.Equal(before, s.ToString());
        Assert.False(s.ContainsKey(2));
        Assert.Equal(new Param(3), t[KeyPath.Of(2, "kernel")]);
        Assert.Equal(3, t.LeafCount);
        var u = t.SetItem(KeyPath.Of("new", "deep", "path"), 1);
        Assert.Equal(1, u[KeyPath.Of("new", "deep", "path")]);
    }

    [Fact]
    public void SetItem_shares_what_it_does_not_change()
    {
        // A small state is stored packed (its sub-states are views made on request): the untouched
        // leaves are the input's instances. A sub-tree above the packing bound is the input's instance.
        var s = Models.BatchNormLinear();
        var t = s.SetItem(KeyPath.Of("linear", "bias"), new Param(new float[] { 9, 9 }));
        Assert.Equal(s["batchnorm"], t["batchnorm"]);
        Assert.All(((State)s["batchnorm"]!).Flatten().Zip(((State)t["batchnorm"]!).Flatten()),
            pair => Assert.Same(pair.Item1.Leaf, pair.Item2.Leaf));
        Assert.Same(s[KeyPath.Of("linear", "kernel")], t[KeyPath.Of("linear", "kernel")]);
        Assert.Equal(new Param(new float[] { 9, 9 }), t[KeyPath.Of("linear", "bias")]);

        var wide = new Models.Node();
        for (var i = 0; i < 100; i++)
            wide[i] = new Param(i);
        var big = State.Create(new Models.Node { ["wide"] = wide, ["other"] = new Param(0) });
        var changed = big.SetItem("other", new Param(1));
        Assert.Same(((State)big["wide"]!).ToFSharp(), ((State)changed["wide"]!).ToFSharp());
    }

    [Fact]
    public void SetItem_replaces_a_leaf_or_a_sub_tree()
    {
        var s = Models.Layers();
        var t = s.SetItem(KeyPath.Of(0), "flattened");
        Assert.Equal("flattened", t[0]);
        Assert.Equal(2, t.LeafCount);
        var u = t.SetItem(0, new Models.Node { ["kernel"] = new Param(1) });
        Assert.Equal(Models.Layers(), u);
    }

    [Fact]
    public void SetItem_through_a_leaf_throws_ArgumentException()
    {
        var s = Models.Layers();
        var e = Assert.Throws<ArgumentException>(() => s.SetItem(KeyPath.Of(0, "kernel", "value"), 1));
        Assert.Contains("(0, 'kernel')", e.Message);
        Assert.Equal(Models.Layers(), s);
    }

    [Fact]
    public void SetItem_at_the_empty_path_throws_ArgumentException()
    {
        Assert.Throws<ArgumentException>(() => Models.Layers().SetItem(KeyPath.Empty, 1));
    }

    [Fact]
    public void Remove_is_persistent_and_keeps_parents_left_empty()
    {
        var s = Models.Layers();
        var t = s.Remove(KeyPath.Of(0, "kernel"));
        Assert.Equal(2, s.LeafCount);
        Assert.Equal(1, t.LeafCount);
        Assert.True(t.ContainsKey(0));
        Assert.Equal(State.Empty, t[0]);
        Assert.Equal(State.Create(new Models.Node { [0] = new Models.Node(), [1] = new Models.Node { ["kernel"] = new Param(2) } }), t);
        var u = s.Remove(0);
        Assert.False(u.ContainsKey(0));
        Assert.Equal(1, u.Count);
    }

    [Fact]
    public void Remove_of_an_absent_path_returns_the_same_instance()
    {
        var s = Models.Layers();
        Assert.Same(s, s.Remove(KeyPath.Of(5)));
        Assert.Same(s, s.Remove(KeyPath.Of("0")));
        Assert.Same(s, s.Remove(KeyPath.Of(0, "bias")));
        Assert.Same(s, s.Remove(KeyPath.Of(0, "kernel", "deeper")));
        Assert.Same(s, s.Remove("nope"));
    }

    [Fact]
    public void OfType_on_a_state_is_a_filter_not_LINQ()
    {
        var s = Models.BatchNormLinear();
        State p = s.OfType<Param>();
        Assert.Equal(Models.BatchNormLinearParams(), p);
        Assert.Equal(s.Filter(Filter.OfType<BatchStat>()), s.OfType<BatchStat>());
    }

    // ---- equality and hashing ---------------------------------------------------------------

    [Fact]
    public void Equality_is_structural_and_order_free()
    {
        var a = State.Create(new Models.Node { ["x"] = 1, [0] = new Models.Node { ["y"] = new Param(new float[] { 1, 2 }) } });
        var b = State.Empty.SetItem(KeyPath.Of(0, "y"), new Param(new float[] { 1, 2 })).SetItem(KeyPath.Of("x"), 1);
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a.Equals((object)b));
        Assert.False(a.Equals(null));
        Assert.False(a.Equals((object)"x"));
    }

    [Fact]
    public void Empty_sub_states_count_for_equality()
    {
        var withEmpty = State.Create(new Models.Node { ["a"] = new Models.Node() });
        Assert.NotEqual(State.Empty, withEmpty);
        Assert.Equal(State.Create(new Models.Node { ["a"] = State.Empty }), withEmpty);
        Assert.NotEqual(State.Create(new Models.Node { ["a"] = new Models.Node { ["b"] = new Models.Node() } }), withEmpty);
    }

    [Fact]
    public void Leaves_compare_type_strictly()
    {
        Assert.NotEqual(State.Create(new Models.Node { ["a"] = 1 }), State.Create(new Models.Node { ["a"] = 1L }));
        Assert.NotEqual(State.Create(new Models.Node { [0] = 1 }), State.Create(new Models.Node { ["0"] = 1 }));
        Assert.NotEqual(State.Create(new Models.Node { ["a"] = 1 }), State.Create(new Models.Node { ["a"] = new Models.Node { ["b"] = 1 } }));
        Assert.NotEqual(State.Create(new Models.Node { ["a"] = null }), State.Create(new Models.Node { ["a"] = new Models.Node() }));
    }

    [Fact]
    public void Array_leaves_compare_element_by_element()
    {
        var a = State.Create(new Models.Node { ["w"] = new float[] { 1, 2 }, ["m"] = new double[,] { { 1, 2 }, { 3, 4 } } });
        var b = State.Create(new Models.Node { ["w"] = new float[] { 1, 2 }, ["m"] = new double[,] { { 1, 2 }, { 3, 4 } } });
        var c = State.Create(new Models.Node { ["w"] = new float[] { 1, 3 }, ["m"] = new double[,] { { 1, 2 }, { 3, 4 } } });
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void States_work_as_hash_set_members()
    {
        var set = new HashSet<State> { Models.BatchNormLinear(), Models.Layers() };
        Assert.Contains(Models.BatchNormLinear(), set);
        Assert.Contains(Models.Layers(), set);
        Assert.DoesNotContain(Models.Layers().SetItem(KeyPath.Of(0, "kernel"), new Param(9)), set);
    }

    [Fact]
    public void A_state_can_be_used_as_a_leaf_only_by_being_grafted()
    {
        // A State value always becomes a sub-tree: there is no way to hold a State as a leaf.
        var inner = Models.Layers();
        var s = State.Empty.SetItem(KeyPath.Of("layers"), inner);
        Assert.Equal(2, s.LeafCount);
        Assert.Contains(s.Flatten(), e => e.Path == KeyPath.Of("layers", 1, "kernel"));
    }

    // ---- null arguments ---------------------------------------------------------------------

    [Fact]
    public void Null_arguments_throw_naming_the_parameter()
    {
        var s = Models.Layers();
        Assert.Equal("entries", Assert.Throws<ArgumentNullException>(() => State.Create(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => s[(KeyPath)null!]).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => s.TryGetValue((KeyPath)null!, out _)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => s.SetItem((KeyPath)null!, 1)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => s.Remove((KeyPath)null!)).ParamName);
    }
}
