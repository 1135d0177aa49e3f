using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using CoreState = StateTree.FSharp.State;
using NaiveTree = System.Collections.Generic.Dictionary<string, object>;

namespace StateTree.Benchmarks;

/// <summary>
/// Every operation of issue 3 on every shape, three ways: StateTree (the C# facade), the naive
/// nested-dictionary baseline, and, once per shape, the floor walk. Method names are
/// <c>{Operation}_{Implementation}</c>; the chart program reads them back from the JSON export.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
public class StateOps
{
    private static readonly Filter Params = Filter.OfType<Param>();
    private static readonly Filter Stats = Filter.OfType<BatchStat>();
    private static readonly Func<string, object, bool> NaiveParams = (_, leaf) => leaf is Param;
    private static readonly Func<string, object, bool> NaiveStats = (_, leaf) => leaf is BatchStat;
    private static readonly Func<string, object, bool> NaiveEverything = (_, _) => true;

    // Map and Zip create exactly one new leaf per leaf, the budget issue 3 allows for them. Arithmetic
    // on the double would add a boxed value per leaf on both sides alike and hide the structure's cost.
    private static readonly Func<KeyPath, object?, object?> Rewrap = (_, leaf) => leaf is Variable v ? v.WithValue(v.Value) : leaf;
    private static readonly Func<string, object, object> NaiveRewrap = (_, leaf) => leaf is Variable v ? v.WithValue(v.Value) : leaf;
    private static readonly Func<object?, object?, object?> TakeSecond = (a, b) => ((Variable)a!).WithValue(((Variable)b!).Value);
    private static readonly Func<object, object, object> NaiveTakeSecond = (a, b) => ((Variable)a).WithValue(((Variable)b).Value);

    private State state = State.Empty;
    private CoreState core = State.Empty.ToFSharp();
    private NaiveTree naive = [];

    private State other = State.Empty;
    private NaiveTree naiveOther = [];
    private IReadOnlyList<(KeyPath Path, object? Leaf)> flat = [];
    private List<(string Path, object Leaf)> naiveFlat = [];
    private State[] groups = [];
    private NaiveTree[] naiveGroups = [];
    private Dictionary<object, object?> pureDict = [];
    private Dictionary<string, object?> naivePureDict = [];
    private Dictionary<string, object?> stringKeyedPureDict = [];
    private KeyPath deepPath = KeyPath.Empty;
    private string naiveDeepPath = "";
    private Filter bulk = Filter.Nothing;
    private Func<string, object, bool> naiveBulk = (_, _) => false;
    private readonly Param newLeaf = new(0.5);

    [ParamsSource(nameof(ShapeValues))]
    public string Shape { get; set; } = Shapes.Mlp;

    public static IEnumerable<string> ShapeValues => BenchSettings.SelectedShapes();

    private string builtShape = "";

    [GlobalSetup]
    public void Setup()
    {
        // The target-specific setups below all start here; the quick mode calls every one of them.
        if (builtShape == Shape)
            return;
        builtShape = Shape;
        var leaves = Shapes.Generate(Shape);
        state = State.FromFlatState(leaves);
        core = state.ToFSharp();
        naive = Naive.Build(leaves);
        if (state.LeafCount != Shapes.LeafCount(Shape) || Naive.Flatten(naive).Count != state.LeafCount)
            throw new InvalidOperationException($"Shape {Shape} was not built as generated.");
    }

    [GlobalSetup(Targets = [nameof(FromFlatState_StateTree), nameof(FromFlatState_Naive)])]
    public void SetupFlat()
    {
        Setup();
        flat = state.Flatten();
        naiveFlat = Naive.Flatten(naive);
    }

    [GlobalSetup(Targets = [nameof(Merge_StateTree), nameof(Merge_Naive)])]
    public void SetupGroups()
    {
        Setup();
        var (p, b, rest) = state.Split(Params, Stats, Filter.Everything);
        groups = [p, b, rest];
        naiveGroups = Naive.Split(naive, NaiveParams, NaiveStats, NaiveEverything);
    }

    [GlobalSetup(Targets = [nameof(RestoreIntPaths_StateTree), nameof(RestoreIntPaths_Naive),
        nameof(ReplaceByPureDict_StateTree), nameof(ReplaceByPureDict_Naive)])]
    public void SetupPureDicts()
    {
        Setup();
        pureDict = state.ToPureDict();
        naivePureDict = Naive.ToPureDict(naive);
        stringKeyedPureDict = StringKeyed(pureDict);
    }

    [GlobalSetup(Targets = [nameof(Equals_StateTree), nameof(Equals_Naive), nameof(Zip_StateTree), nameof(Zip_Naive)])]
    public void SetupOther()
    {
        Setup();
        var leaves = Shapes.Generate(Shape);
        other = State.FromFlatState(leaves);
        naiveOther = Naive.Build(leaves);
        if (!state.Equals(other))
            throw new InvalidOperationException($"The two builds of {Shape} differ.");
    }

    [GlobalSetup(Targets = [nameof(SetItem_StateTree), nameof(SetItem_Naive)])]
    public void SetupDeepPath()
    {
        Setup();
        deepPath = state.Flatten()[state.LeafCount / 2].Path;
        naiveDeepPath = deepPath.ToString();
    }

    [GlobalSetup(Targets = [nameof(SplitSubtrees_StateTree), nameof(SplitSubtrees_Naive)])]
    public void SetupBulk()
    {
        Setup();
        bulk = Filter.PathStartsWith(KeyPath.Of(Shapes.BulkKey(Shape)));
        var prefix = Shapes.BulkKey(Shape) + "/";
        naiveBulk = (path, _) => path.StartsWith(prefix, StringComparison.Ordinal);
    }

    // ---- floor ----------------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Floor")]
    public int Floor_Walk() => FSharp.Walk.TouchLeaves(core);

    // ---- flat view ------------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Flatten")]
    public object Flatten_StateTree() => state.Flatten();

    [Benchmark(Baseline = true), BenchmarkCategory("Flatten")]
    public object Flatten_Naive() => Naive.Flatten(naive);

    [Benchmark, BenchmarkCategory("FromFlatState")]
    public object FromFlatState_StateTree() => State.FromFlatState(flat);

    [Benchmark(Baseline = true), BenchmarkCategory("FromFlatState")]
    public object FromFlatState_Naive() => Naive.FromFlat(naiveFlat);

    // ---- filter, split, merge -------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Filter")]
    public object Filter_StateTree() => state.Filter(Params);

    [Benchmark(Baseline = true), BenchmarkCategory("Filter")]
    public object Filter_Naive() => Naive.Filter(naive, NaiveParams);

    [Benchmark, BenchmarkCategory("Split")]
    public object Split_StateTree() => state.Split(Params, Stats, Filter.Everything);

    [Benchmark(Baseline = true), BenchmarkCategory("Split")]
    public object Split_Naive() => Naive.Split(naive, NaiveParams, NaiveStats, NaiveEverything);

    [Benchmark, BenchmarkCategory("Merge")]
    public object Merge_StateTree() => State.Merge(groups[0], groups[1], groups[2]);

    [Benchmark(Baseline = true), BenchmarkCategory("Merge")]
    public object Merge_Naive() => Naive.Merge(naiveGroups[0], naiveGroups[1], naiveGroups[2]);

    // Sub-tree reuse: the answer is decided at the top of the tree, so the cost should not grow with leaves.

    [Benchmark, BenchmarkCategory("FilterEverything")]
    public object FilterEverything_StateTree() => state.Filter(Filter.Everything);

    [Benchmark(Baseline = true), BenchmarkCategory("FilterEverything")]
    public object FilterEverything_Naive() => Naive.Filter(naive, NaiveEverything);

    [Benchmark, BenchmarkCategory("SplitSubtrees")]
    public object SplitSubtrees_StateTree() => state.Split(bulk, Filter.Everything);

    [Benchmark(Baseline = true), BenchmarkCategory("SplitSubtrees")]
    public object SplitSubtrees_Naive() => Naive.Split(naive, naiveBulk, NaiveEverything);

    // ---- pure dicts -----------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("ToPureDict")]
    public object ToPureDict_StateTree() => state.ToPureDict();

    [Benchmark(Baseline = true), BenchmarkCategory("ToPureDict")]
    public object ToPureDict_Naive() => Naive.ToPureDict(naive);

    [Benchmark, BenchmarkCategory("RestoreIntPaths")]
    public object RestoreIntPaths_StateTree() => State.RestoreIntPaths(stringKeyedPureDict);

    [Benchmark(Baseline = true), BenchmarkCategory("RestoreIntPaths")]
    public object RestoreIntPaths_Naive() => Naive.RestoreIntPaths(stringKeyedPureDict);

    [Benchmark, BenchmarkCategory("ReplaceByPureDict")]
    public object ReplaceByPureDict_StateTree() => state.ReplaceByPureDict(pureDict);

    [Benchmark(Baseline = true), BenchmarkCategory("ReplaceByPureDict")]
    public object ReplaceByPureDict_Naive() => Naive.ReplaceByPureDict(naive, naivePureDict);

    // ---- mapping --------------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Map")]
    public object Map_StateTree() => state.Map(Rewrap);

    [Benchmark(Baseline = true), BenchmarkCategory("Map")]
    public object Map_Naive() => Naive.Map(naive, NaiveRewrap);

    [Benchmark, BenchmarkCategory("Zip")]
    public object Zip_StateTree() => State.Zip(state, other, TakeSecond);

    [Benchmark(Baseline = true), BenchmarkCategory("Zip")]
    public object Zip_Naive() => Naive.Zip(naive, naiveOther, NaiveTakeSecond);

    // ---- point update, equality, hashing --------------------------------------------------------

    [Benchmark, BenchmarkCategory("SetItem")]
    public object SetItem_StateTree() => state.SetItem(deepPath, newLeaf);

    [Benchmark(Baseline = true), BenchmarkCategory("SetItem")]
    public object SetItem_Naive() => Naive.SetItem(naive, naiveDeepPath, newLeaf);

    [Benchmark, BenchmarkCategory("Equals")]
    public bool Equals_StateTree() => state.Equals(other);

    [Benchmark(Baseline = true), BenchmarkCategory("Equals")]
    public bool Equals_Naive() => Naive.DeepEquals(naive, naiveOther);

    // The facade caches a state's hash after the first call; the core's GetHashCode is the full O(n)
    // computation that first call pays, which is what this measures.
    [Benchmark, BenchmarkCategory("GetHashCode")]
    public int GetHashCode_StateTree() => core.GetHashCode();

    [Benchmark(Baseline = true), BenchmarkCategory("GetHashCode")]
    public int GetHashCode_Naive() => Naive.DeepHash(naive);

    /// <summary>What a JSON round trip makes of a pure dict: every key turned into its text.</summary>
    private static Dictionary<string, object?> StringKeyed(Dictionary<object, object?> node)
    {
        var result = new Dictionary<string, object?>(node.Count);
        foreach (var (key, value) in node)
            result[key.ToString()!] = value is Dictionary<object, object?> child ? StringKeyed(child) : value;
        return result;
    }
}
