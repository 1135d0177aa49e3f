using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;
using StateTree.Benchmarks;

// Usage (from the repository root):
//   dotnet run -c Release --project bench/StateTree.Benchmarks                  the full run (every shape)
//   dotnet run -c Release --project bench/StateTree.Benchmarks -- --ci          CI: dry job, small shapes, in-process
//   dotnet run -c Release --project bench/StateTree.Benchmarks -- --memory      bytes per leaf of a 1M-leaf state
//   ... -- --shapes mlp,moe                                                     only these shapes
//   ... -- --quick synthetic-1M [Filter] [--allocations]   stopwatch timings of one shape, set up once,
//                                                  optionally with the types each operation allocates
//                                                  (run it with DOTNET_TC_CallCountingDelayMs=0, as the jobs are)
//   ... -- --batch-gc                              the same job with the non-concurrent workstation GC
//                                                  (System.GC.Concurrent=false), to show what the GC mode costs
// Any other argument goes to BenchmarkDotNet (--filter, --job, --artifacts, ...).
// CheckpointThroughput saves and loads 64 tensors of 16 MiB (1 GiB); STATETREE_BENCH_CHECKPOINT_TENSOR_KIB sets
// another tensor size, e.g. ... -- --filter '*CheckpointThroughput*' --job short  for that benchmark alone.

var rest = new List<string>();
var ci = false;
string? shapes = null;
string? memoryOut = null;
var memory = false;
var batchGc = false;
string? quick = null;
string? quickOnly = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--ci":
            ci = true;
            break;
        case "--batch-gc":
            batchGc = true;
            break;
        case "--shapes" when i + 1 < args.Length:
            shapes = args[++i];
            break;
        case "--memory":
            memory = true;
            if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                memoryOut = args[++i];
            break;
        case "--quick" when i + 1 < args.Length:
            quick = args[++i];
            if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                quickOnly = args[++i];
            break;
        default:
            rest.Add(args[i]);
            break;
    }
}

if (memory)
{
    var table = Footprint.Measure(shapes ?? Shapes.Synthetic1M);
    Console.WriteLine(table);
    if (memoryOut is not null)
        File.WriteAllText(memoryOut, table + "\n");
    return 0;
}

if (quick is not null)
{
    Quick.Run(quick, quickOnly, rest.Remove("--allocations"));
    return 0;
}

// CI only checks that every benchmark still compiles and runs: the three small shapes take seconds,
// and in-process execution saves building and launching a child process per benchmark.
if (ci)
    shapes ??= $"{Shapes.Mlp},{Shapes.Transformer},{Shapes.Moe}";
// ... and the checkpoint benchmark writes 64 tensors of 4 KiB instead of 1 GiB in all.
if (ci && Environment.GetEnvironmentVariable(CheckpointThroughput.TensorKibVariable) is null)
    Environment.SetEnvironmentVariable(CheckpointThroughput.TensorKibVariable, "4");
if (shapes is not null)
    Environment.SetEnvironmentVariable(BenchSettings.ShapesVariable, shapes);
_ = BenchSettings.SelectedShapes().ToList();

// Without a filter: every benchmark, one class per BenchmarkDotNet run, so that each class gets a report of its own
// (the chart reads StateOps-report-full.json; a joined run of several classes would be named BenchmarkRun-joined-…).
string[][] runs = rest.Contains("--filter") || rest.Contains("-f")
    ? [[.. rest]]
    : [.. BenchmarkClasses().Select(c => (string[])[.. rest, "--filter", $"*{c.Name}*"])];

var config = DefaultConfig.Instance
    .AddExporter(JsonExporter.Full, CsvMeasurementsExporter.Default)
    .WithOption(ConfigOptions.JoinSummary, true);

if (ci)
{
    config = config.AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.Instance).WithId("ci-dry"));
}
else if (!rest.Contains("--job") && !rest.Contains("-j"))
{
    // Sized so the full run (about 230 benchmarks, up to 1M leaves) takes well under an hour on two
    // cores: one process per benchmark, a short pilot, 3 warm-up and 10 measured iterations of ~250 ms.
    // The runtime puts off promoting methods to optimized code while it is still compiling others;
    // with calls of 100 ms and more that delay lasted through whole measurements (`--quick synthetic-1M
    // FromFlatState` took 149 ms with it, 84 ms without). Without the delay each benchmark process
    // reaches its optimized code in the first calls; what code it reaches is the same.
    var job = Job.Default
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(10)
        .WithIterationTime(TimeInterval.FromMilliseconds(250))
        .WithEnvironmentVariable(Quick.TieringDelayVariable, "0");
    // The runtime's default is the concurrent GC, whose small gen0 budget makes an operation that
    // allocates tens of MB collect many times; a batch job can turn it off.
    config = config.AddJob(batchGc ? job.WithGcConcurrent(false).WithId("statetree-batch-gc") : job.WithId("statetree"));
}

var started = DateTimeOffset.UtcNow;
var source = RunInfo.Source();
var summaries = runs.SelectMany(run => BenchmarkSwitcher.FromAssembly(typeof(StateOps).Assembly).Run(run, config)).ToList();
var artifacts = rest.IndexOf("--artifacts") is var a and >= 0 && a + 1 < rest.Count ? rest[a + 1] : "BenchmarkDotNet.Artifacts";
RunInfo.Write(Path.Combine(artifacts, "results", "run-info.md"), args, started, source);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;

static IEnumerable<Type> BenchmarkClasses() =>
    typeof(StateOps).Assembly.GetTypes()
        .Where(t => t.IsPublic && !t.IsAbstract && t.GetMethods().Any(m => m.IsDefined(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false)))
        .OrderBy(t => t == typeof(StateOps) ? 0 : 1)
        .ThenBy(t => t.Name, StringComparer.Ordinal);
