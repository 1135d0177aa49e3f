namespace StateTree.CSharp.Tests;

// SPEC §3: the filter language, its operators, equality and ToString.
public class FilterTests
{
    private static readonly KeyPath P = KeyPath.Of("layers", 0, "kernel");

    [Fact]
    public void OfType_matches_the_type_and_its_subclasses()
    {
        var f = Filter.OfType<Param>();
        Assert.True(f.Matches(P, new Param(1)));
        Assert.True(f.Matches(P, new MyParam(1)));
        Assert.True(f.Matches(P, new MyLoraParam(1)));
        Assert.False(f.Matches(P, new BatchStat(1)));
        Assert.False(f.Matches(P, new Variable(1)));
        Assert.False(f.Matches(P, null));
        Assert.True(Filter.OfType<Intermediate>().Matches(P, new Perturbation(1)));
        Assert.True(Filter.OfType<RngState>().Matches(P, new RngKey(1)));
        Assert.True(Filter.OfType<Variable>().Matches(P, new OptState(1)));
        Assert.True(Filter.OfType(typeof(Param)).Matches(P, new MyParam(1)));
        Assert.True(Filter.OfType<MyParam>().Matches(P, new MyLoraParam(1)));
        Assert.False(Filter.OfType<MyParam>().Matches(P, new Param(1)));
    }

    [Fact]
    public void OfType_works_on_raw_leaves()
    {
        Assert.True(Filter.OfType<int>().Matches(P, 7));
        Assert.False(Filter.OfType<int>().Matches(P, 7L));
        Assert.False(Filter.OfType<int>().Matches(P, new Param(7)));
        Assert.True(Filter.OfType<float[]>().Matches(P, new float[] { 1 }));
        Assert.True(Filter.OfType<Array>().Matches(P, new float[] { 1 }));
        Assert.True(Filter.OfType<string>().Matches(P, "text"));
        Assert.True(Filter.OfType<object>().Matches(P, 7));
        var s = State.Create(new Models.Node { ["count"] = 7, ["w"] = new Param(7), ["name"] = "x" });
        Assert.Equal(State.Create(new Models.Node { ["count"] = 7 }), s.Filter(Filter.OfType<int>()));
    }

    [Fact]
    public void WithTag_matches_variables_with_that_tag_only()
    {
        var f = Filter.WithTag("dropout");
        Assert.True(f.Matches(P, new RngKey(1).WithMetadata("tag", "dropout")));
        Assert.False(f.Matches(P, new RngKey(1).WithMetadata("tag", "params")));
        Assert.False(f.Matches(P, new RngKey(1).WithMetadata("tag", "Dropout")));
        Assert.False(f.Matches(P, new RngKey(1)));
        Assert.False(f.Matches(P, "dropout"));
        Assert.False(f.Matches(P, null));
    }

    [Fact]
    public void PathContains_exact_is_type_strict()
    {
        Assert.True(Filter.PathContains("layers").Matches(P, 1));
        Assert.True(Filter.PathContains(0).Matches(P, 1));
        Assert.False(Filter.PathContains("0").Matches(P, 1));
        Assert.False(Filter.PathContains("kern").Matches(P, 1));
        Assert.True(Filter.PathContains("kernel", exact: true).Matches(P, 1));
    }

    [Fact]
    public void PathContains_not_exact_looks_at_key_texts()
    {
        var f = Filter.PathContains("1", exact: false);
        Assert.True(f.Matches(KeyPath.Of("layers", 1, "w"), 0));
        Assert.True(f.Matches(KeyPath.Of("layers", 10, "w"), 0));
        Assert.True(f.Matches(KeyPath.Of("layers", "b1"), 0));
        Assert.False(f.Matches(KeyPath.Of("layers", 2, "w"), 0));
        Assert.True(Filter.PathContains("kern", exact: false).Matches(P, 0));
        Assert.True(Filter.PathContains(0, exact: false).Matches(KeyPath.Of("x", "10"), 0));
    }

    [Fact]
    public void PathIn_matches_whole_paths_only()
    {
        var f = Filter.PathIn(KeyPath.Of("a"), KeyPath.Of("b", 0));
        Assert.True(f.Matches(KeyPath.Of("a"), 1));
        Assert.True(f.Matches(KeyPath.Of("b", 0), 1));
        Assert.False(f.Matches(KeyPath.Of("b"), 1));
        Assert.False(f.Matches(KeyPath.Of("b", 0, "c"), 1));
        Assert.False(f.Matches(KeyPath.Of("b", "0"), 1));
        Assert.False(Filter.PathIn().Matches(KeyPath.Of("a"), 1));
    }

    [Fact]
    public void Any_All_Not_and_the_constants()
    {
        var param = Filter.OfType<Param>();
        var tagged = Filter.WithTag("x");
        var p = new Param(1);
        var px = new Param(1).WithMetadata("tag", "x");
        var b = new BatchStat(1);
        Assert.True(Filter.Any(param, tagged).Matches(P, p));
        Assert.False(Filter.Any(param, tagged).Matches(P, b));
        Assert.True(Filter.All(param, tagged).Matches(P, px));
        Assert.False(Filter.All(param, tagged).Matches(P, p));
        Assert.False(Filter.Any().Matches(P, p));
        Assert.True(Filter.All().Matches(P, p));
        Assert.True(Filter.Not(param).Matches(P, b));
        Assert.False(Filter.Not(param).Matches(P, p));
        Assert.True(Filter.Everything.Matches(P, null));
        Assert.True(Filter.Everything.Matches(KeyPath.Empty, 1));
        Assert.False(Filter.Nothing.Matches(P, p));
    }

    [Fact]
    public void Operators_build_Any_All_and_Not()
    {
        var a = Filter.OfType<Param>();
        var b = Filter.WithTag("x");
        Assert.Equal(Filter.Any(a, b), a | b);
        Assert.Equal(Filter.All(a, b), a & b);
        Assert.Equal(Filter.Not(a), !a);
        Assert.True((a & !b).Matches(P, new Param(1)));
        Assert.False((a & !b).Matches(P, new Param(1).WithMetadata("tag", "x")));
    }

    [Fact]
    public void Implicit_conversions_from_Type_and_string()
    {
        Filter t = typeof(Param), g = "dropout";
        Assert.Equal(Filter.OfType<Param>(), t);
        Assert.Equal(Filter.WithTag("dropout"), g);
        Assert.True(t.Matches(P, new MyParam(1)));
        Assert.True(g.Matches(P, new RngKey(1).WithMetadata("tag", "dropout")));
    }

    [Fact]
    public void Where_is_a_predicate_on_path_and_leaf()
    {
        var f = Filter.Where((path, leaf) => path.Count == 3 && leaf is int i && i > 5);
        Assert.True(f.Matches(P, 6));
        Assert.False(f.Matches(P, 5));
        Assert.False(f.Matches(KeyPath.Of("a"), 6));
    }

    [Fact]
    public void PathMatches_is_a_full_regex_match_on_the_path_text()
    {
        var f = Filter.PathMatches(@"layers/\d+/kernel");
        Assert.True(f.Matches(KeyPath.Of("layers", 0, "kernel"), 1));
        Assert.True(f.Matches(KeyPath.Of("layers", 12, "kernel"), 1));
        Assert.False(f.Matches(KeyPath.Of("layers", 0, "kernel", "x"), 1), "a full match, not a search");
        Assert.False(f.Matches(KeyPath.Of("my", "layers", 0, "kernel"), 1));
        Assert.False(Filter.PathMatches("kernel").Matches(P, 1));
        Assert.True(Filter.PathMatches(".*kernel").Matches(P, 1));
        // An alternation must be anchored as a whole, not only its first and last branches.
        Assert.False(Filter.PathMatches("a|kernel").Matches(P, 1));
    }

    [Fact]
    public void PathMatches_rejects_a_bad_pattern_naming_the_argument()
    {
        var e = Assert.Throws<ArgumentException>(() => Filter.PathMatches("layers/(\\d+"));
        Assert.Equal("regex", e.ParamName);
    }

    [Fact]
    public void PathStartsWith_matches_a_prefix_by_keys_not_text()
    {
        var f = Filter.PathStartsWith(KeyPath.Of("layers", 1));
        Assert.True(f.Matches(KeyPath.Of("layers", 1, "kernel"), 0));
        Assert.True(f.Matches(KeyPath.Of("layers", 1), 0));
        Assert.False(f.Matches(KeyPath.Of("layers", 10, "kernel"), 0));
        Assert.False(f.Matches(KeyPath.Of("layers", "1", "kernel"), 0));
        Assert.False(f.Matches(KeyPath.Of("layers"), 0));
        Assert.True(Filter.PathStartsWith(KeyPath.Empty).Matches(P, 0));
    }

    // ---- equality ---------------------------------------------------------------------------

    [Fact]
    public void Filters_have_value_equality_and_hashing()
    {
        Assert.True(Filter.OfType<Param>() == Filter.OfType<Param>());
        Assert.True(Filter.OfType<Param>() == Filter.OfType(typeof(Param)));
        Assert.Equal(Filter.OfType(typeof(Param)).GetHashCode(), Filter.OfType<Param>().GetHashCode());
        Assert.True(Filter.WithTag("x") == Filter.WithTag("x"));
        Assert.Equal(Filter.WithTag(new string('x', 1)).GetHashCode(), Filter.WithTag("x").GetHashCode());
        Assert.Equal(Filter.PathContains("a"), Filter.PathContains("a", exact: true));
        Assert.Equal(Filter.PathIn(KeyPath.Of("a"), KeyPath.Of("b")), Filter.PathIn(KeyPath.Of("a"), KeyPath.Of("b")));
        Assert.Equal(Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")), Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")));
        Assert.Equal(Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")).GetHashCode(),
            Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")).GetHashCode());
        Assert.Equal(Filter.Not(Filter.WithTag("x")), !Filter.WithTag("x"));
        Assert.Equal(Filter.PathMatches("a.*"), Filter.PathMatches("a.*"));
        Assert.Equal(Filter.PathStartsWith(KeyPath.Of("a", 0)), Filter.PathStartsWith(KeyPath.Of("a", 0)));
        Assert.Equal(Filter.Everything, Filter.Everything);
        Assert.True(Filter.Everything.Equals((object)Filter.Everything));
    }

    [Fact]
    public void Filters_that_differ_are_not_equal()
    {
        var p = Filter.OfType<Param>();
        Assert.NotEqual(Filter.Any(p), Filter.All(p));
        Assert.True(Filter.Any(p) != Filter.All(p));
        Assert.NotEqual(Filter.PathContains("a"), Filter.PathContains("a", exact: false));
        Assert.NotEqual(Filter.PathContains(0), Filter.PathContains("0"));
        Assert.NotEqual(Filter.OfType<Param>(), Filter.OfType<BatchStat>());
        Assert.NotEqual(Filter.OfType<Param>(), Filter.OfType<MyParam>());
        Assert.NotEqual(Filter.WithTag("x"), Filter.WithTag("X"));
        Assert.NotEqual(Filter.Everything, Filter.Nothing);
        Assert.NotEqual(Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")), Filter.Any(Filter.WithTag("x"), Filter.OfType<Param>()));
        Assert.False(Filter.OfType<Param>().Equals(null));
        Assert.False(Filter.OfType<Param>().Equals((object)"OfType(Param)"));
        Assert.True((Filter?)null == (Filter?)null);
        Assert.False(Filter.Everything == (Filter?)null);
    }

    [Fact]
    public void Where_filters_compare_by_delegate_identity()
    {
        Func<KeyPath, object?, bool> pred = (_, leaf) => leaf is Param;
        Func<KeyPath, object?, bool> same = (_, leaf) => leaf is Param;
        Assert.Equal(Filter.Where(pred), Filter.Where(pred));
        Assert.Equal(Filter.Where(pred).GetHashCode(), Filter.Where(pred).GetHashCode());
        Assert.NotEqual(Filter.Where(pred), Filter.Where(same));
    }

    [Fact]
    public void Filters_work_as_dictionary_keys()
    {
        var d = new Dictionary<Filter, string>
        {
            [Filter.OfType<Param>()] = "params",
            [Filter.OfType<Param>() | Filter.WithTag("x")] = "either",
        };
        Assert.Equal("params", d[Filter.OfType(typeof(Param))]);
        Assert.Equal("either", d[Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x"))]);
    }

    // ---- ToString ---------------------------------------------------------------------------

    [Fact]
    public void ToString_in_Flax_style_as_the_spec_lists()
    {
        Assert.Equal("OfType(Param)", Filter.OfType<Param>().ToString());
        Assert.Equal("WithTag('dropout')", Filter.WithTag("dropout").ToString());
        Assert.Equal("PathContains('a', exact=True)", Filter.PathContains("a").ToString());
        Assert.Equal("Any(OfType(Param), WithTag('x'))", Filter.Any(Filter.OfType<Param>(), Filter.WithTag("x")).ToString());
        Assert.Equal("Not(WithTag('x'))", Filter.Not(Filter.WithTag("x")).ToString());
        Assert.Equal("Everything()", Filter.Everything.ToString());
        Assert.Equal("Nothing()", Filter.Nothing.ToString());
    }

    [Fact]
    public void ToString_of_the_other_forms_follows_the_same_style()
    {
        Assert.Equal("PathContains('a', exact=False)", Filter.PathContains("a", exact: false).ToString());
        Assert.Equal("PathContains(0, exact=True)", Filter.PathContains(0).ToString());
        Assert.Equal("All(OfType(Param), Not(WithTag('x')))", (Filter.OfType<Param>() & !Filter.WithTag("x")).ToString());
        Assert.Equal("Any()", Filter.Any().ToString());
        Assert.Equal("All()", Filter.All().ToString());
        Assert.Equal("OfType(MyParam)", Filter.OfType<MyParam>().ToString());
        Assert.Contains("('layers', 0)", Filter.PathStartsWith(KeyPath.Of("layers", 0)).ToString());
        Assert.StartsWith("PathMatches(", Filter.PathMatches(@"layers/\d+").ToString());
        Assert.StartsWith("Where(", Filter.Where((_, _) => true).ToString());
    }

    // ---- null arguments ---------------------------------------------------------------------

    [Fact]
    public void Null_arguments_throw_naming_the_parameter()
    {
        Assert.Equal("type", Assert.Throws<ArgumentNullException>(() => Filter.OfType(null!)).ParamName);
        Assert.Equal("tag", Assert.Throws<ArgumentNullException>(() => Filter.WithTag(null!)).ParamName);
        Assert.Equal("paths", Assert.Throws<ArgumentNullException>(() => Filter.PathIn(null!)).ParamName);
        Assert.Equal("paths", Assert.Throws<ArgumentNullException>(() => Filter.PathIn(KeyPath.Of("a"), null!)).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentNullException>(() => Filter.Any(null!)).ParamName);
        Assert.Equal("filters", Assert.Throws<ArgumentNullException>(() => Filter.All(Filter.Everything, null!)).ParamName);
        Assert.Equal("filter", Assert.Throws<ArgumentNullException>(() => Filter.Not(null!)).ParamName);
        Assert.Equal("predicate", Assert.Throws<ArgumentNullException>(() => Filter.Where(null!)).ParamName);
        Assert.Equal("regex", Assert.Throws<ArgumentNullException>(() => Filter.PathMatches(null!)).ParamName);
        Assert.Equal("prefix", Assert.Throws<ArgumentNullException>(() => Filter.PathStartsWith(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => Filter.Everything.Matches(null!, 1)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentNullException>(() => Filter.Everything | null!).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentNullException>(() => null! & Filter.Everything).ParamName);
        Assert.Equal("a", Assert.Throws<ArgumentNullException>(() => !(Filter)null!).ParamName);
        Assert.Throws<ArgumentNullException>(() => { Filter f = (Type)null!; return f; });
        Assert.Throws<ArgumentNullException>(() => { Filter f = (string)null!; return f; });
    }
}
