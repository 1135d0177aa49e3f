namespace StateTree.CSharp.Tests;

// SPEC §4.2: Flatten and FromFlatState.
public class FlatViewTests
{
    [Fact]
    public void Flatten_lists_every_leaf_in_path_order()
    {
        var s = State.Create(new Models.Node
        {
            ["b"] = new Models.Node { ["y"] = 2, [1] = 3 },
            [0] = 1,
            ["a"] = new Models.Node(),
            ["c"] = null,
        });
        var flat = s.Flatten();
        Assert.Equal(
            new (KeyPath, object?)[] { (KeyPath.Of(0), 1), (KeyPath.Of("b", 1), 3), (KeyPath.Of("b", "y"), 2), (KeyPath.Of("c"), null) },
            flat.Select(e => (e.Path, e.Leaf)).ToArray());
    }

    [Fact]
    public void Flatten_of_the_model_follows_the_canonical_order()
    {
        var paths = Models.BatchNormLinear().Flatten().Select(e => e.Path.ToString()).ToArray();
        Assert.Equal(
            new[] { "batchnorm/bias", "batchnorm/mean", "batchnorm/scale", "batchnorm/var", "linear/bias", "linear/kernel" },
            paths);
    }

    [Fact]
    public void Flatten_tuple_elements_are_named()
    {
        var (path, leaf) = Models.Layers().Flatten()[0];
        Assert.Equal(KeyPath.Of(0, "kernel"), path);
        Assert.Equal(new Param(1), leaf);
        Assert.Equal(KeyPath.Of(1, "kernel"), Models.Layers().Flatten()[1].Path);
        Assert.Equal(new Param(2), Models.Layers().Flatten()[1].Leaf);
    }

    [Fact]
    public void FromFlatState_builds_the_nested_state_from_pairs_in_any_order()
    {
        var s = State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of(1, "kernel"), new Param(2)),
            (KeyPath.Of(0, "kernel"), new Param(1)),
        });
        Assert.Equal(Models.Layers(), s);
    }

    [Fact]
    public void FromFlatState_has_a_KeyValuePair_overload()
    {
        var s = State.FromFlatState(new[]
        {
            new KeyValuePair<KeyPath, object?>(KeyPath.Of(0, "kernel"), new Param(1)),
            new KeyValuePair<KeyPath, object?>(KeyPath.Of(1, "kernel"), new Param(2)),
        });
        Assert.Equal(Models.Layers(), s);
    }

    [Fact]
    public void FromFlatState_of_nothing_is_empty()
    {
        Assert.Equal(State.Empty, State.FromFlatState(Array.Empty<(KeyPath, object?)>()));
    }

    [Fact]
    public void FromFlatState_of_Flatten_gives_back_the_state()
    {
        var s = Models.BatchNormLinear().SetItem(KeyPath.Of("layers", 0, "n"), null).SetItem(KeyPath.Of(3), "raw");
        Assert.Equal(s, State.FromFlatState(s.Flatten()));
    }

    [Fact]
    public void Flat_round_trip_drops_empty_sub_states()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("empty"), State.Empty);
        Assert.Equal(Models.Layers(), State.FromFlatState(s.Flatten()));
    }

    [Fact]
    public void A_duplicated_path_later_wins()
    {
        var s = State.FromFlatState(new (KeyPath, object?)[] { (KeyPath.Of("a", 0), 1), (KeyPath.Of("a", 0), 2) });
        Assert.Equal(2, s[KeyPath.Of("a", 0)]);
        Assert.Equal(1, s.LeafCount);
    }

    [Fact]
    public void A_State_value_is_grafted_as_if_its_leaves_were_listed()
    {
        var grafted = State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("model"), Models.Layers().SetItem(KeyPath.Of("e"), State.Empty)),
            (KeyPath.Of("step"), 10),
        });
        var listed = State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("model", 0, "kernel"), new Param(1)),
            (KeyPath.Of("model", 1, "kernel"), new Param(2)),
            (KeyPath.Of("step"), 10),
        }).SetItem(KeyPath.Of("model", "e"), State.Empty);
        Assert.Equal(listed, grafted);
    }

    [Fact]
    public void A_grafted_State_follows_the_usual_rules_with_other_pairs()
    {
        // Later pair wins at the same leaf path, even inside a grafted sub-tree.
        var s = State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("model"), Models.Layers()),
            (KeyPath.Of("model", 0, "kernel"), new Param(10)),
        });
        Assert.Equal(new Param(10), s[KeyPath.Of("model", 0, "kernel")]);
        Assert.Equal(new Param(2), s[KeyPath.Of("model", 1, "kernel")]);

        // A grafted leaf that is a prefix of another pair is the leaf-is-prefix error.
        var e = Assert.Throws<ArgumentException>(() => State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("model"), Models.Layers()),
            (KeyPath.Of("model", 0, "kernel", "x"), 1),
        }));
        Assert.Contains("('model', 0, 'kernel')", e.Message);
        Assert.Contains("('model', 0, 'kernel', 'x')", e.Message);
    }

    [Fact]
    public void A_path_that_is_a_leaf_and_a_prefix_is_an_error_naming_both_in_either_order()
    {
        var leafFirst = Assert.Throws<ArgumentException>(() => State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("a"), 1),
            (KeyPath.Of("a", "b"), 2),
        }));
        Assert.Contains("('a',)", leafFirst.Message);
        Assert.Contains("('a', 'b')", leafFirst.Message);

        var leafLast = Assert.Throws<ArgumentException>(() => State.FromFlatState(new (KeyPath, object?)[]
        {
            (KeyPath.Of("a", "b", 0), 2),
            (KeyPath.Of("a"), 1),
        }));
        Assert.Contains("('a',)", leafLast.Message);
        Assert.Contains("('a', 'b', 0)", leafLast.Message);
        Assert.Equal("pairs", leafLast.ParamName);
    }

    [Fact]
    public void An_int_and_a_string_key_with_the_same_text_are_not_a_prefix_clash()
    {
        var s = State.FromFlatState(new (KeyPath, object?)[] { (KeyPath.Of(0), 1), (KeyPath.Of("0", "x"), 2) });
        Assert.Equal(1, s[0]);
        Assert.Equal(2, s[KeyPath.Of("0", "x")]);
    }

    [Fact]
    public void The_empty_path_is_an_error()
    {
        var e = Assert.Throws<ArgumentException>(() => State.FromFlatState(new (KeyPath, object?)[] { (KeyPath.Empty, 1) }));
        Assert.Contains("()", e.Message);
    }

    [Fact]
    public void Null_arguments_throw_naming_the_parameter()
    {
        Assert.Equal("pairs", Assert.Throws<ArgumentNullException>(() => State.FromFlatState((IEnumerable<(KeyPath, object?)>)null!)).ParamName);
        Assert.Equal("pairs", Assert.Throws<ArgumentNullException>(() => State.FromFlatState((IEnumerable<KeyValuePair<KeyPath, object?>>)null!)).ParamName);
        Assert.ThrowsAny<ArgumentException>(() => State.FromFlatState(new (KeyPath, object?)[] { (null!, 1) }));
    }
}
