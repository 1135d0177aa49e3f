using System.Globalization;
using System.Runtime;

namespace StateTree.Benchmarks;

/// <summary>
/// Issue 3's memory target: the bytes a 1M-leaf state occupies per leaf beyond the leaf objects. The
/// leaf instances are created first and kept alive throughout, so the heap difference across building
/// the tree (after full, compacting collections) is the tree alone. The naive dictionary tree is
/// measured the same way for comparison.
/// </summary>
public static class Footprint
{
    public static string Measure(string shape)
    {
        var leaves = Shapes.Generate(shape);
        var leafObjects = leaves.Select(l => l.Leaf).ToArray();
        var paths = leaves.Select(l => l.Path).ToArray();
        leaves = null;

        // Paths are part of the input, not of the state: they are alive before and after the build,
        // so a state that kept them would not be charged for them. Only the tree's own nodes count.
        var before = SettledHeap();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var state = State.FromFlatState(paths.Zip(leafObjects, (p, l) => (p, l)));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var stateBytes = SettledHeap() - before;
        var n = state.LeafCount;
        GC.KeepAlive(state);
        state = null;

        before = SettledHeap();
        var naiveAllocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var naive = Naive.Build(paths.Zip(leafObjects, (p, l) => (p, l)));
        var naiveAllocated = GC.GetAllocatedBytesForCurrentThread() - naiveAllocatedBefore;
        var naiveBytes = SettledHeap() - before;
        GC.KeepAlive(naive);
        GC.KeepAlive(leafObjects);
        GC.KeepAlive(paths);

        var c = CultureInfo.InvariantCulture;
        return string.Join('\n',
            $"| tree ({shape}, {n:N0} leaves) | retained bytes per leaf | allocated while building, per leaf |",
            "|---|---|---|",
            string.Create(c, $"| StateTree `State.FromFlatState` | {(double)stateBytes / n:F1} | {(double)allocated / n:F1} |"),
            string.Create(c, $"| naive nested `Dictionary<string, object>` | {(double)naiveBytes / n:F1} | {(double)naiveAllocated / n:F1} |"));
    }

    private static long SettledHeap()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: false);
    }
}
