using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Attributes;

namespace StateTree.Benchmarks;

/// <summary>
/// A fast loop for whoever tunes the core: every benchmark of <see cref="StateOps"/> on one shape,
/// set up once, timed with a stopwatch (median of a few runs after warm-up). Not a substitute for
/// the BenchmarkDotNet run that RESULTS.md reports.
/// </summary>
public static class Quick
{
    /// <summary>
    /// The runtime's delay before it promotes methods to optimized code, which the benchmark jobs set to 0
    /// (see Program.cs); it can only be set before the process starts.
    /// </summary>
    public const string TieringDelayVariable = "DOTNET_TC_CallCountingDelayMs";

    public static void Run(string shape, string? only, bool allocations)
    {
        if (Environment.GetEnvironmentVariable(TieringDelayVariable) != "0")
            Console.WriteLine($"note: {TieringDelayVariable} is not 0, so some calls may run before their code is optimized");

        var ops = new StateOps { Shape = shape };
        var methods = typeof(StateOps).GetMethods()
            .Where(m => m.GetCustomAttribute<BenchmarkAttribute>() is not null)
            .Where(m => only is null || m.Name.Contains(only, StringComparison.OrdinalIgnoreCase))
            .ToArray();
        // Only the setups the selected benchmarks use, as BenchmarkDotNet does: the heap a timing
        // sees should hold what it holds in the real run, not every other benchmark's inputs.
        var setup = Stopwatch.StartNew();
        var names = methods.Select(m => m.Name).ToHashSet();
        foreach (var m in typeof(StateOps).GetMethods())
        {
            var attribute = m.GetCustomAttribute<GlobalSetupAttribute>();
            if (attribute is not null && (attribute.Targets is not { Length: > 0 } targets || targets.Any(names.Contains)))
                m.Invoke(ops, null);
        }
        Console.WriteLine($"{shape}: {Shapes.LeafCount(shape):N0} leaves, set up in {setup.Elapsed.TotalSeconds:0.0} s");

        var n = Shapes.LeafCount(shape);
        var c = CultureInfo.InvariantCulture;
        foreach (var m in methods)
        {
            var run = (Func<object>)(() => m.Invoke(ops, null)!);
            // Warm up past tiered compilation (30 calls and a back-off), then time batches of calls
            // long enough that small shapes are not timer noise.
            var inner = Math.Max(1, 200_000 / n);
            var warm = Stopwatch.StartNew();
            for (var i = 0; i < 50 || warm.ElapsedMilliseconds < 300; i++)
                run();
            var times = new List<double>();
            long bytes = 0;
            var collections = new int[3];
            for (var g = 0; g < 3; g++)
                collections[g] = -GC.CollectionCount(g);
            for (var round = 0; round < 7; round++)
            {
                var allocated = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < inner; i++)
                    run();
                sw.Stop();
                bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / inner;
                times.Add(sw.Elapsed.TotalNanoseconds / inner);
            }

            // Collections of each generation per call (a gen2 also counts as gen1 and gen0): at 1M leaves
            // they, not the operation's own code, decide most of the time.
            var perCall = new double[3];
            for (var g = 0; g < 3; g++)
                perCall[g] = (collections[g] + GC.CollectionCount(g)) / (7.0 * inner);
            times.Sort();
            var median = times[times.Count / 2];
            Console.WriteLine(string.Create(c, $"  {m.Name,-30} {median / 1e6,10:0.000} ms {median / n,9:0.0} ns/leaf {bytes,12:N0} B   GCs/call {perCall[0]:0.0}/{perCall[1]:0.0}/{perCall[2]:0.0}"));
            if (allocations && bytes > 0)
            {
                using var profile = new AllocationProfile();
                var sampled = profile.Record(() =>
                {
                    for (var i = 0; i < Math.Max(1, 20_000_000 / Math.Max(1, bytes)); i++)
                        run();
                });
                foreach (var (type, share) in sampled.Take(8))
                    Console.WriteLine(string.Create(c, $"      {share,6:P0}  {type}"));
            }
        }
    }
}
