namespace StateTree.CSharp.Tests;

// SPEC §4.4 (Merge and |) and §4.5 (Diff and -).
public class MergeTests
{
    private static State S(params (KeyPath Path, object? Leaf)[] pairs) => State.FromFlatState(pairs);

    [Fact]
    public void Merge_is_the_union_by_full_path()
    {
        var a = S((KeyPath.Of("x", "a"), 1), (KeyPath.Of(0), "zero"));
        var b = S((KeyPath.Of("x", "b"), 2));
        var expected = S((KeyPath.Of("x", "a"), 1), (KeyPath.Of("x", "b"), 2), (KeyPath.Of(0), "zero"));
        Assert.Equal(expected, State.Merge(a, b));
        Assert.Equal(expected, State.Merge(b, a));
        Assert.Equal(expected, a | b);
    }

    [Fact]
    public void On_a_shared_leaf_path_the_later_state_wins()
    {
        var a = S((KeyPath.Of("w"), new Param(1)), (KeyPath.Of("k"), 1));
        var b = S((KeyPath.Of("w"), new Param(2)));
        Assert.Equal(new Param(2), State.Merge(a, b)["w"]);
        Assert.Equal(new Param(1), State.Merge(b, a)["w"]);
        Assert.Equal(new Param(2), (a | b)["w"]);
        Assert.Equal(1, (a | b)["k"]);
    }

    [Fact]
    public void A_later_leaf_replaces_an_earlier_sub_tree_and_a_later_sub_tree_replaces_an_earlier_leaf()
    {
        var tree = S((KeyPath.Of("x", "a"), 1), (KeyPath.Of("x", "b"), 2), (KeyPath.Of("y"), 0));
        var leaf = S((KeyPath.Of("x"), "flat"));
        Assert.Equal(S((KeyPath.Of("x"), "flat"), (KeyPath.Of("y"), 0)), State.Merge(tree, leaf));
        Assert.Equal(S((KeyPath.Of("x", "a"), 1), (KeyPath.Of("x", "b"), 2), (KeyPath.Of("y"), 0)), State.Merge(leaf, tree));
    }

    [Fact]
    public void Merge_of_three_applies_last_wins_in_order()
    {
        var a = S((KeyPath.Of("v"), 1));
        var b = S((KeyPath.Of("v"), 2));
        var c = S((KeyPath.Of("v"), 3));
        Assert.Equal(3, State.Merge(a, b, c)["v"]);
        Assert.Equal(1, State.Merge(c, b, a)["v"]);
        Assert.Equal(3, State.Merge(new[] { a, b, c }.AsEnumerable())["v"]);
    }

    [Fact]
    public void Merge_with_one_non_empty_input_returns_it()
    {
        var s = Models.BatchNormLinear();
        Assert.Same(s, State.Merge(s));
        Assert.Same(s, State.Merge(State.Empty, s));
        Assert.Same(s, State.Merge(s, State.Empty, State.Empty));
        Assert.Same(s, State.Merge(State.Empty, s, State.Empty));
        Assert.Same(s, s | State.Empty);
        Assert.Same(s, State.Empty | s);
        Assert.Same(s, State.Merge(MergeConflict.Error, State.Empty, s));
        Assert.Same(s, State.Merge(MergeConflict.LastWins, s));
        Assert.Same(s, State.Merge(new[] { State.Empty, s }.AsEnumerable()));
    }

    [Fact]
    public void A_single_input_with_empty_sub_states_is_returned_unchanged()
    {
        // Count == 0 inputs are ignored; this one has a child (an empty sub-state), so it is the one input left.
        var s = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        Assert.Same(s, State.Merge(State.Empty, s));
    }

    [Fact]
    public void Merge_of_two_or_more_drops_empty_sub_states()
    {
        var a = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        var b = S((KeyPath.Of("step"), 1));
        Assert.Equal(Models.Layers().SetItem(KeyPath.Of("step"), 1), State.Merge(a, b));
    }

    [Fact]
    public void Merge_of_nothing_but_empties_is_empty()
    {
        Assert.Equal(State.Empty, State.Merge(State.Empty, State.Empty));
        Assert.Equal(State.Empty, State.Merge(Array.Empty<State>().AsEnumerable()));
    }

    [Fact]
    public void Merge_is_persistent()
    {
        var a = Models.Layers();
        var b = S((KeyPath.Of(0, "kernel"), new Param(100)));
        _ = State.Merge(a, b);
        Assert.Equal(Models.Layers(), a);
        Assert.Equal(S((KeyPath.Of(0, "kernel"), new Param(100))), b);
    }

    [Fact]
    public void Merge_with_Error_allows_disjoint_inputs()
    {
        var (p, b) = Models.BatchNormLinear().Split(Filter.OfType<Param>(), Filter.Everything);
        Assert.Equal(Models.BatchNormLinear(), State.Merge(MergeConflict.Error, p, b));
    }

    [Fact]
    public void Merge_with_Error_lists_every_conflicting_path_once()
    {
        var a = S((KeyPath.Of("w"), 1), (KeyPath.Of("x", "a"), 1), (KeyPath.Of("ok", 0), 1));
        var b = S((KeyPath.Of("w"), 1), (KeyPath.Of("x"), 2), (KeyPath.Of("ok", 1), 1));
        var c = S((KeyPath.Of("w"), 3), (KeyPath.Of("x", "a", "deeper"), 4));
        var e = Assert.Throws<ArgumentException>(() => State.Merge(MergeConflict.Error, a, b, c));
        // w: leaf in all three (equal values too); x: leaf in b, sub-tree in a and c; x/a: leaf in a, sub-tree in c.
        Assert.Equal(1, Occurrences(e.Message, "('w',)"));
        Assert.Equal(1, Occurrences(e.Message, "('x',)"));
        Assert.Equal(1, Occurrences(e.Message, "('x', 'a')"));
        Assert.DoesNotContain("'ok'", e.Message);

        var errors = V.Errors(State.TryMerge(MergeConflict.Error, a, b, c));
        Assert.Equal(
            new[] { KeyPath.Of("w"), KeyPath.Of("x"), KeyPath.Of("x", "a") },
            errors.Select(x => x.At!).OrderBy(p => p).ToArray());
        Assert.All(errors, x => Assert.Contains(x.At!.ToTupleString(), x.Message));
    }

    [Fact]
    public void Merge_conflict_on_equal_values_is_still_a_conflict()
    {
        var a = S((KeyPath.Of("w"), new Param(1)));
        var e = Assert.Throws<ArgumentException>(() => State.Merge(MergeConflict.Error, a, S((KeyPath.Of("w"), new Param(1)))));
        Assert.Contains("('w',)", e.Message);
        // The very same instance twice conflicts with itself too.
        Assert.Throws<ArgumentException>(() => State.Merge(MergeConflict.Error, a, a));
    }

    [Fact]
    public void Merge_conflict_names_the_leaf_once_even_when_many_inputs_repeat_it()
    {
        var inputs = Enumerable.Range(0, 5).Select(i => S((KeyPath.Of("layers", 0, "w"), i))).ToArray();
        var e = Assert.Throws<ArgumentException>(() => State.Merge(MergeConflict.Error, inputs));
        Assert.Equal(1, Occurrences(e.Message, "('layers', 0, 'w')"));
        Assert.Single(V.Errors(State.TryMerge(MergeConflict.Error, inputs[0], inputs[1..])));
    }

    [Fact]
    public void An_empty_sub_state_conflicts_with_nothing()
    {
        var a = State.Create(new Models.Node { ["x"] = new Models.Node() });
        var b = S((KeyPath.Of("x"), 1));
        Assert.Equal(b, State.Merge(MergeConflict.Error, a, b));
        Assert.Equal(b, State.Merge(MergeConflict.Error, b, a));
        var c = S((KeyPath.Of("x", "y"), 1));
        Assert.Equal(c, State.Merge(MergeConflict.Error, a, c));
    }

    [Fact]
    public void Merge_with_Error_changes_nothing_when_it_fails()
    {
        var a = Models.Layers();
        Assert.Throws<ArgumentException>(() => State.Merge(MergeConflict.Error, a, Models.Layers()));
        Assert.Equal(Models.Layers(), a);
    }

    [Fact]
    public void Null_and_undefined_arguments()
    {
        var s = Models.Layers();
        Assert.Equal("first", Assert.Throws<ArgumentNullException>(() => State.Merge(null!, s)).ParamName);
        Assert.Equal("rest", Assert.Throws<ArgumentNullException>(() => State.Merge(s, null!, s)).ParamName);
        Assert.Equal("rest", Assert.Throws<ArgumentNullException>(() => State.Merge(s, (State[])null!)).ParamName);
        Assert.Equal("states", Assert.Throws<ArgumentNullException>(() => State.Merge((IEnumerable<State>)null!)).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentNullException>(() => null! | s).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentNullException>(() => s | null!).ParamName);
        Assert.Equal("first", Assert.Throws<ArgumentNullException>(() => State.TryMerge(MergeConflict.Error, null!)).ParamName);
        Assert.Equal("conflict", Assert.Throws<ArgumentOutOfRangeException>(() => State.Merge((MergeConflict)7, s)).ParamName);
    }

    internal static int Occurrences(string text, string part)
    {
        var n = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + 1, StringComparison.Ordinal))
            n++;
        return n;
    }
}

public class DiffTests
{
    private static State S(params (KeyPath Path, object? Leaf)[] pairs) => State.FromFlatState(pairs);

    [Fact]
    public void Diff_keeps_leaves_whose_exact_path_is_not_a_leaf_of_other()
    {
        var s = Models.BatchNormLinear();
        Assert.Equal(Models.BatchNormLinearStats(), s.Diff(Models.BatchNormLinearParams()));
        Assert.Equal(Models.BatchNormLinearStats(), s - Models.BatchNormLinearParams());
    }

    [Fact]
    public void Diff_ignores_values()
    {
        var s = S((KeyPath.Of("a"), 1), (KeyPath.Of("b"), 2));
        Assert.Equal(S((KeyPath.Of("b"), 2)), s - S((KeyPath.Of("a"), "something else")));
    }

    [Fact]
    public void A_leaf_of_other_at_a_prefix_path_removes_nothing()
    {
        var s = S((KeyPath.Of("x", "a"), 1), (KeyPath.Of("x", "b"), 2));
        Assert.Equal(s, s - S((KeyPath.Of("x"), 0)));
    }

    [Fact]
    public void A_sub_tree_of_other_where_this_has_a_leaf_removes_nothing()
    {
        var s = S((KeyPath.Of("x"), 1));
        Assert.Equal(s, s - S((KeyPath.Of("x", "a"), 0)));
    }

    [Fact]
    public void Diff_is_type_strict_on_keys()
    {
        var s = S((KeyPath.Of(0), 1));
        Assert.Equal(s, s - S((KeyPath.Of("0"), 1)));
        Assert.Equal(State.Empty, s - S((KeyPath.Of(0), 1)));
    }

    [Fact]
    public void Diff_with_an_empty_state_returns_the_same_instance()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        Assert.Same(s, s.Diff(State.Empty));
        Assert.Same(s, s - State.Empty);
    }

    [Fact]
    public void Diff_is_a_flat_operation_and_drops_empty_sub_states()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        Assert.Equal(S((KeyPath.Of(1, "kernel"), new Param(2))), s - S((KeyPath.Of(0, "kernel"), 0)));
        // Removing every leaf of a sub-tree removes the sub-tree, not leaves an empty one behind.
        Assert.Equal(State.Empty, Models.Layers() - Models.Layers());
        Assert.Equal(S((KeyPath.Of("b"), 1)), S((KeyPath.Of("a", "x"), 1), (KeyPath.Of("b"), 1)) - S((KeyPath.Of("a", "x"), 1)));
    }

    [Fact]
    public void Diff_with_an_other_that_has_only_empty_sub_states_drops_this_empty_sub_states()
    {
        var other = State.Create(new Models.Node { ["q"] = new Models.Node() });
        var s = Models.Layers().SetItem(KeyPath.Of("e"), State.Empty);
        Assert.Equal(Models.Layers(), s - other);
    }

    [Fact]
    public void Diff_and_Merge_rebuild_the_state()
    {
        var s = Models.BatchNormLinear();
        var p = s.OfType<Param>();
        Assert.Equal(s, State.Merge(p, s - p));
    }

    [Fact]
    public void Null_arguments()
    {
        var s = Models.Layers();
        Assert.Equal("other", Assert.Throws<ArgumentNullException>(() => s.Diff(null!)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentNullException>(() => s - null!).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentNullException>(() => null! - s).ParamName);
    }
}
