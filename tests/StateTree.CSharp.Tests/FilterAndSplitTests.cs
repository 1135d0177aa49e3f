namespace StateTree.CSharp.Tests;

// SPEC §4.3: Filter and Split (Flax filter_state / split_state), and the SPEC §5 example.
public class FilterAndSplitTests
{
    private static State Mixed() => State.Create(new Models.Node
    {
        ["bn"] = new Models.Node { ["mean"] = new BatchStat(0.0), ["scale"] = new Param(1.0) },
        ["dropout"] = new Models.Node { ["rngs"] = new Models.Node { ["count"] = new RngCount(0).WithMetadata("tag", "dropout") } },
        ["layers"] = new Models.Node
        {
            [0] = new Models.Node { ["kernel"] = new Param(2.0), ["lora"] = new MyParam(3.0) },
            [1] = new Models.Node { ["kernel"] = new Param(4.0) },
        },
        ["step"] = 7,
    });

    // ---- the SPEC §5 example ------------------------------------------------------------------

    [Fact]
    public void Spec_example_filter_one()
    {
        State param = Models.BatchNormLinear().Filter(Filter.OfType<Param>());
        Assert.Equal(Models.BatchNormLinearParams(), param);
    }

    [Fact]
    public void Spec_example_filter_two()
    {
        var (param2, batchStats) = Models.BatchNormLinear().Filter(Filter.OfType<Param>(), Filter.OfType<BatchStat>());
        Assert.Equal(Models.BatchNormLinearParams(), param2);
        Assert.Equal(Models.BatchNormLinearStats(), batchStats);
    }

    [Fact]
    public void Spec_example_split_and_merge()
    {
        var state = Models.BatchNormLinear();
        var (p, b) = state.Split(Filter.OfType<Param>(), Filter.OfType<BatchStat>());
        Assert.Equal(Models.BatchNormLinearParams(), p);
        Assert.Equal(Models.BatchNormLinearStats(), b);
        State merged = State.Merge(p, b);
        Assert.Equal(state, merged);
    }

    // ---- Filter -----------------------------------------------------------------------------

    [Fact]
    public void Filter_drops_leaves_that_match_no_filter_and_prunes_empty_parents()
    {
        var s = Mixed();
        var rng = s.Filter(Filter.OfType<RngState>());
        Assert.Equal(State.Create(new Models.Node
        {
            ["dropout"] = new Models.Node { ["rngs"] = new Models.Node { ["count"] = new RngCount(0).WithMetadata("tag", "dropout") } },
        }), rng);
    }

    [Fact]
    public void Filter_with_three_filters_gives_a_three_tuple()
    {
        var (p, b, rest) = Mixed().Filter(Filter.OfType<Param>(), Filter.OfType<BatchStat>(), Filter.Everything);
        Assert.Equal(4, p.LeafCount);
        Assert.Equal(1, b.LeafCount);
        Assert.Equal(State.Create(new Models.Node
        {
            ["dropout"] = new Models.Node { ["rngs"] = new Models.Node { ["count"] = new RngCount(0).WithMetadata("tag", "dropout") } },
            ["step"] = 7,
        }), rest);
    }

    [Fact]
    public void Filter_with_many_filters_gives_a_list_in_filter_order()
    {
        IReadOnlyList<State> groups = Mixed().Filter(Filter.OfType<MyParam>(), Filter.OfType<Param>(), "dropout", Filter.OfType<int>());
        Assert.Equal(4, groups.Count);
        Assert.Equal(State.Create(new Models.Node { ["layers"] = new Models.Node { [0] = new Models.Node { ["lora"] = new MyParam(3.0) } } }), groups[0]);
        Assert.Equal(3, groups[1].LeafCount);
        Assert.Equal(1, groups[2].LeafCount);
        Assert.Equal(State.Create(new Models.Node { ["step"] = 7 }), groups[3]);
    }

    [Fact]
    public void Filter_with_an_array_of_one_gives_a_list_of_one()
    {
        IReadOnlyList<State> arr = Mixed().Filter(new[] { Filter.OfType<BatchStat>() });
        Assert.Single(arr);
        Assert.Equal(State.Create(new Models.Node { ["bn"] = new Models.Node { ["mean"] = new BatchStat(0.0) } }), arr[0]);
    }

    [Fact]
    public void Each_leaf_goes_to_the_first_matching_filter_only()
    {
        var (mine, all) = Mixed().Filter(Filter.OfType<MyParam>(), Filter.OfType<Param>());
        Assert.Equal(1, mine.LeafCount);
        Assert.Equal(3, all.LeafCount);
        Assert.False(all.TryGetValue(KeyPath.Of("layers", 0, "lora"), out _));

        var (first, second) = Mixed().Filter(Filter.OfType<Param>(), Filter.OfType<MyParam>());
        Assert.Equal(4, first.LeafCount);
        Assert.Equal(State.Empty, second);
    }

    [Fact]
    public void Groups_may_be_empty()
    {
        var (none, p) = Models.Layers().Filter(Filter.OfType<BatchStat>(), Filter.OfType<Param>());
        Assert.Equal(State.Empty, none);
        Assert.Equal(0, none.Count);
        Assert.Equal(Models.Layers(), p);
        Assert.Equal(State.Empty, Models.Layers().Filter(Filter.Nothing));
    }

    [Fact]
    public void Filter_visits_leaves_in_path_order()
    {
        var seen = new List<KeyPath>();
        var s = Mixed();
        s.Filter(Filter.Where((path, _) => { seen.Add(path); return false; }));
        Assert.Equal(s.Flatten().Select(e => e.Path).ToArray(), seen.ToArray());
        Assert.Equal(seen.OrderBy(p => p).ToArray(), seen.ToArray());
    }

    [Fact]
    public void Filter_keeping_everything_returns_the_same_instance()
    {
        var s = Models.BatchNormLinear();
        Assert.Same(s, s.Filter(Filter.Everything));
        Assert.Same(s, s.Filter(Filter.OfType<Variable>()));
        Assert.Same(s, s.Filter(Filter.Where((_, _) => true)));
        var p = Models.BatchNormLinearParams();
        Assert.Same(p, p.OfType<Param>());
        var (all, none) = p.Filter(Filter.OfType<Param>(), Filter.Everything);
        Assert.Same(p, all);
        Assert.Equal(State.Empty, none);
    }

    [Fact]
    public void Filter_keeping_every_leaf_still_drops_empty_sub_states()
    {
        var s = Models.Layers().SetItem(KeyPath.Of("empty"), State.Empty);
        var f = s.Filter(Filter.Everything);
        Assert.NotSame(s, f);
        Assert.Equal(Models.Layers(), f);
    }

    [Fact]
    public void Filter_shares_whole_sub_trees_it_keeps()
    {
        // A small sub-tree is stored packed (its sub-states are views made on request): its leaves
        // are the input's instances. A sub-tree above the packing bound is the input's instance.
        var s = Models.BatchNormLinear();
        var onlyLinear = s.Filter(Filter.PathStartsWith(KeyPath.Of("linear")));
        Assert.Equal(s["linear"], onlyLinear["linear"]);
        Assert.All(((State)s["linear"]!).Flatten().Zip(((State)onlyLinear["linear"]!).Flatten()),
            pair => Assert.Same(pair.Item1.Leaf, pair.Item2.Leaf));

        var wide = new Models.Node();
        for (var i = 0; i < 100; i++)
            wide[i] = new Param(i);
        var big = State.Create(new Models.Node { ["wide"] = wide, ["other"] = new Param(0) });
        var onlyWide = big.Filter(Filter.PathStartsWith(KeyPath.Of("wide")));
        Assert.Same(((State)big["wide"]!).ToFSharp(), ((State)onlyWide["wide"]!).ToFSharp());
    }

    [Fact]
    public void Filter_by_path_regex_and_path_prefix()
    {
        var s = Mixed();
        var kernels = s.Filter(Filter.PathMatches(@"layers/\d+/kernel"));
        Assert.Equal(State.Create(new Models.Node
        {
            ["layers"] = new Models.Node { [0] = new Models.Node { ["kernel"] = new Param(2.0) }, [1] = new Models.Node { ["kernel"] = new Param(4.0) } },
        }), kernels);
        var layer0 = s.Filter(Filter.PathStartsWith(KeyPath.Of("layers", 0)));
        Assert.Equal(2, layer0.LeafCount);
        var inList = s.Filter(Filter.PathIn(KeyPath.Of("step"), KeyPath.Of("bn", "mean")));
        Assert.Equal(2, inList.LeafCount);
        var contains = s.Filter(Filter.PathContains("kernel"));
        Assert.Equal(kernels, contains);
    }

    [Fact]
    public void Filter_is_persistent()
    {
        var s = Mixed();
        var before = s.Flatten().ToArray();
        _ = s.Filter(Filter.OfType<Param>(), Filter.Everything);
        _ = s.Split(Filter.OfType<Param>(), Filter.Everything);
        Assert.Equal(before, s.Flatten().ToArray());
    }

    // ---- Split ------------------------------------------------------------------------------

    [Fact]
    public void Split_with_Everything_last_catches_the_rest()
    {
        var s = Mixed();
        var (p, rest) = s.Split(Filter.OfType<Param>(), Filter.Everything);
        Assert.Equal(4, p.LeafCount);
        Assert.Equal(3, rest.LeafCount);
        Assert.Equal(s, State.Merge(p, rest));
    }

    [Fact]
    public void Split_of_one_Everything_returns_the_same_instance()
    {
        var s = Mixed();
        Assert.Same(s, s.Split(Filter.Everything));
    }

    [Fact]
    public void Split_hands_a_group_that_receives_every_leaf_the_same_instance()
    {
        var p = Models.BatchNormLinearParams();
        var (all, rest) = p.Split(Filter.OfType<Param>(), Filter.Everything);
        Assert.Same(p, all);
        Assert.Equal(State.Empty, rest);
    }

    [Fact]
    public void Split_with_three_and_many_filters()
    {
        var s = Mixed();
        var (a3, b3, c3) = s.Split(Filter.OfType<Param>(), Filter.OfType<BatchStat>(), Filter.Everything);
        Assert.Equal(s, State.Merge(a3, b3, c3));
        IReadOnlyList<State> many = s.Split(typeof(Param), typeof(RngCount), "dropout", Filter.Everything);
        Assert.Equal(4, many.Count);
        Assert.Equal(4, many[0].LeafCount);
        Assert.Equal(1, many[1].LeafCount);
        Assert.Equal(State.Empty, many[2]);
        Assert.Equal(2, many[3].LeafCount);
        Assert.Equal(s, State.Merge(many));
    }

    [Fact]
    public void Split_groups_are_pairwise_disjoint_and_cover_the_state()
    {
        var s = Mixed();
        var groups = s.Split(Filter.PathContains("layers"), Filter.OfType<Param>(), Filter.WithTag("dropout"), Filter.Everything);
        var paths = groups.SelectMany(g => g.Flatten().Select(e => e.Path)).ToList();
        Assert.Equal(paths.Count, paths.Distinct().Count());
        Assert.Equal(s.Flatten().Select(e => e.Path).OrderBy(p => p), paths.OrderBy(p => p));
    }

    [Fact]
    public void Several_trailing_Everything_are_fine_and_the_extra_groups_are_empty()
    {
        var s = Mixed();
        var (p, e1, e2) = s.Split(Filter.OfType<Param>(), Filter.Everything, Filter.Everything);
        Assert.Equal(4, p.LeafCount);
        Assert.Equal(3, e1.LeafCount);
        Assert.Equal(State.Empty, e2);
        var groups = s.Filter(Filter.Everything, Filter.Everything, Filter.Everything, Filter.Everything);
        Assert.Same(s, groups[0]);
        Assert.All(groups.Skip(1), g => Assert.Equal(State.Empty, g));
    }

    [Fact]
    public void Non_exhaustive_split_throws_the_exact_message()
    {
        var s = Mixed();
        var remainder = State.Create(new Models.Node
        {
            ["dropout"] = new Models.Node { ["rngs"] = new Models.Node { ["count"] = new RngCount(0).WithMetadata("tag", "dropout") } },
            ["step"] = 7,
        });
        var e = Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>(), Filter.OfType<BatchStat>()));
        Assert.Equal(
            $"Non-exhaustive filters, got a non-empty remainder: {remainder}.\nUse Filter.Everything to match all remaining elements.",
            MessageOnly(e));
    }

    [Fact]
    public void Non_exhaustive_split_message_is_the_same_for_every_overload()
    {
        var s = Models.BatchNormLinear();
        var expected =
            $"Non-exhaustive filters, got a non-empty remainder: {Models.BatchNormLinearStats()}.\nUse Filter.Everything to match all remaining elements.";
        Assert.Equal(expected, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>()))));
        Assert.Equal(expected, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>(), Filter.Nothing))));
        Assert.Equal(expected, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>(), Filter.Nothing, Filter.Nothing))));
        Assert.Equal(expected, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(new[] { Filter.OfType<Param>(), Filter.Nothing, Filter.Nothing, Filter.Nothing }))));
    }

    [Fact]
    public void Everything_before_the_end_throws_the_exact_message_in_Filter_and_Split()
    {
        var s = Mixed();
        const string at0 = "Filter.Everything can only be used as the last filters, got it at index 0.";
        const string at1 = "Filter.Everything can only be used as the last filters, got it at index 1.";
        Assert.Equal(at0, MessageOnly(Assert.Throws<ArgumentException>(() => s.Filter(Filter.Everything, Filter.OfType<Param>()))));
        Assert.Equal(at0, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(Filter.Everything, Filter.OfType<Param>()))));
        Assert.Equal(at1, MessageOnly(Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>(), Filter.Everything, Filter.OfType<BatchStat>()))));
        Assert.Equal(at1, MessageOnly(Assert.Throws<ArgumentException>(() => s.Filter(Filter.OfType<Param>(), Filter.Everything, Filter.OfType<BatchStat>()))));
        Assert.Equal(at1, MessageOnly(Assert.Throws<ArgumentException>(() => s.Filter(new[] { Filter.Nothing, Filter.Everything, Filter.Nothing, Filter.Everything }))));
    }

    [Fact]
    public void Everything_misplaced_is_checked_even_on_an_empty_state()
    {
        Assert.Throws<ArgumentException>(() => State.Empty.Split(Filter.Everything, Filter.OfType<Param>()));
        Assert.Throws<ArgumentException>(() => State.Empty.Filter(Filter.Everything, Filter.OfType<Param>()));
    }

    [Fact]
    public void Everything_inside_a_combination_is_not_the_Everything_filter()
    {
        // Only the constant itself is restricted; Any(Everything) is just a filter that happens to match all.
        var s = Mixed();
        var (all, none) = s.Split(Filter.Any(Filter.Everything), Filter.OfType<Param>());
        Assert.Same(s, all);
        Assert.Equal(State.Empty, none);
    }

    [Fact]
    public void At_least_one_filter_is_required()
    {
        var s = Mixed();
        Assert.Equal("filters", Assert.Throws<ArgumentException>(() => s.Filter()).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentException>(() => s.Split()).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentException>(() => s.Filter(Array.Empty<Filter>())).ParamName);
        Assert.Throws<ArgumentException>(() => State.Empty.Split());
    }

    [Fact]
    public void Split_of_an_empty_state_gives_empty_groups()
    {
        var (a, b) = State.Empty.Split(Filter.OfType<Param>(), Filter.Nothing);
        Assert.Equal(State.Empty, a);
        Assert.Equal(State.Empty, b);
    }

    [Fact]
    public void A_failing_split_changes_nothing()
    {
        var s = Mixed();
        var before = s.ToString();
        Assert.Throws<ArgumentException>(() => s.Split(Filter.OfType<Param>()));
        Assert.Equal(before, s.ToString());
        Assert.Equal(Mixed(), s);
    }

    [Fact]
    public void Null_filters_throw_naming_the_parameter()
    {
        var s = Mixed();
        Assert.Equal("filter", Assert.Throws<ArgumentNullException>(() => s.Filter((Filter)null!)).ParamName);
        Assert.Equal("second", Assert.Throws<ArgumentNullException>(() => s.Filter(Filter.Everything, null!)).ParamName);
        Assert.Equal("first", Assert.Throws<ArgumentNullException>(() => s.Split(null!, Filter.Everything)).ParamName);
        Assert.Equal("third", Assert.Throws<ArgumentNullException>(() => s.Split(Filter.Nothing, Filter.Nothing, null!)).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentNullException>(() => s.Split((Filter[])null!)).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentNullException>(() => s.Filter(new Filter[] { Filter.Nothing, null!, Filter.Nothing, Filter.Everything })).ParamName);
    }

    /// <summary>ArgumentException.Message appends " (Parameter 'x')"; the SPEC's text is the part before it.</summary>
    internal static string MessageOnly(ArgumentException e)
    {
        var suffix = e.ParamName is null ? "" : $" (Parameter '{e.ParamName}')";
        return e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }
}
