using System.Globalization;
using System.Text;
using System.Text.Json;
using StateTree.Benchmarks;

// Reads the JSON that BenchmarkDotNet exported for StateOps and writes, from that one run:
//   - a log-log PNG of time per leaf against leaf count, one line per operation, floor dashed;
//   - the result tables of bench/RESULTS.md (between its GENERATED markers), ratios included;
//   - when the folder also holds CheckpointThroughput's export, its throughput table.
// Usage: dotnet run -c Release --project bench/StateTree.BenchChart -- <results folder> <png> <RESULTS.md>
// The results folder may also hold run-info.md (written by the suite) and memory.md (its --memory mode).

if (args.Length < 3)
{
    Console.Error.WriteLine("usage: StateTree.BenchChart <BenchmarkDotNet results folder> <chart.png> <RESULTS.md>");
    return 2;
}

var (resultsDir, pngPath, resultsMd) = (args[0], args[1], args[2]);

var reports = Directory.GetFiles(resultsDir, "*StateOps-report-full.json");
if (reports.Length != 1)
{
    Console.Error.WriteLine($"expected one StateOps-report-full.json in {resultsDir}, found {reports.Length}");
    return 2;
}

using var json = JsonDocument.Parse(File.ReadAllText(reports[0]));
var run = Run.Read(json.RootElement);
Chart.Save(run, pngPath);
string? Optional(string name) => Path.Combine(resultsDir, name) is var f && File.Exists(f) ? File.ReadAllText(f).Trim() : null;
var tables = Report.Write(run, Optional("run-info.md"), Optional("memory.md"));
var checkpoint = Directory.GetFiles(resultsDir, "*CheckpointThroughput-report-full.json");
if (checkpoint.Length == 1)
{
    using var checkpointJson = JsonDocument.Parse(File.ReadAllText(checkpoint[0]));
    tables += Throughput.Write(checkpointJson.RootElement);
}

const string begin = "<!-- BEGIN GENERATED: bench/StateTree.BenchChart writes this part; do not edit by hand -->";
const string end = "<!-- END GENERATED -->";
var text = File.Exists(resultsMd) ? File.ReadAllText(resultsMd) : $"{begin}\n{end}\n";
var (b, e) = (text.IndexOf(begin, StringComparison.Ordinal), text.IndexOf(end, StringComparison.Ordinal));
if (b < 0 || e < b)
{
    Console.Error.WriteLine($"{resultsMd} has no GENERATED markers");
    return 2;
}

File.WriteAllText(resultsMd, text[..(b + begin.Length)] + "\n\n" + tables + "\n" + text[e..]);
Console.WriteLine($"wrote {pngPath} and the tables of {resultsMd}");
return 0;

/// <summary>One measured benchmark: mean time per operation and bytes allocated per operation.</summary>
internal sealed record Measurement(double MeanNs, long Bytes);

/// <summary>The measurements of one run, by (operation, implementation, shape).</summary>
internal sealed class Run
{
    public required Dictionary<(string Op, string Impl, string Shape), Measurement> Results { get; init; }
    public required string Environment { get; init; }
    public required string Job { get; init; }
    public required string[] Shapes { get; init; }

    public Measurement? Get(string op, string impl, string shape) =>
        Results.TryGetValue((op, impl, shape), out var m) ? m : null;

    public static Run Read(JsonElement root)
    {
        var results = new Dictionary<(string, string, string), Measurement>();
        var job = "";
        foreach (var b in root.GetProperty("Benchmarks").EnumerateArray())
        {
            if (b.GetProperty("Statistics").ValueKind != JsonValueKind.Object)
                continue; // a benchmark that failed has no statistics; its row stays empty
            var method = b.GetProperty("Method").GetString()!;
            var cut = method.IndexOf('_');
            var shape = b.GetProperty("Parameters").GetString()!.Replace("Shape=", "", StringComparison.Ordinal);
            var mean = b.GetProperty("Statistics").GetProperty("Mean").GetDouble();
            var bytes = b.GetProperty("Memory").GetProperty("BytesAllocatedPerOperation").GetInt64();
            results[(method[..cut], method[(cut + 1)..], shape)] = new(mean, bytes);
            var display = b.GetProperty("DisplayInfo").GetString()!;
            job = display[(display.IndexOf(':') + 2)..display.LastIndexOf(" [", StringComparison.Ordinal)];
        }

        var env = root.GetProperty("HostEnvironmentInfo");
        string S(string name) => env.TryGetProperty(name, out var v) ? v.ToString() : "?";
        var environment = $"BenchmarkDotNet {S("BenchmarkDotNetVersion")}, {S("OsVersion")}, {S("ProcessorName")} " +
            $"({S("PhysicalCoreCount")} cores, {S("LogicalCoreCount")} logical), {S("RuntimeVersion")}, {S("Architecture")}";
        var shapes = global::StateTree.Benchmarks.Shapes.All.Where(s => results.Keys.Any(k => k.Item3 == s)).ToArray();
        return new Run { Results = results, Environment = environment, Job = job, Shapes = shapes };
    }
}

/// <summary>The operations in report order, with what issue 3 asks of each.</summary>
internal static class Ops
{
    /// <summary>Operation, Flax name, Flax seconds at 100k and 1M (issue 3's table), required speed-up, floor bound.</summary>
    public static readonly (string Op, string? Flax, double Flax100K, double Flax1M, double MinSpeedup, double MaxFloorRatio)[] All =
    [
        ("Flatten", "to_flat_state", 0.26, 2.5, 50, 10),
        ("FromFlatState", "from_flat_state", 0.065, 0.69, 20, 10),
        ("Filter", "filter_state(Param)", 0.55, 5.9, 100, 4),
        ("Split", "split_state(Param, BatchStat, ...)", 0.56, 6.0, 100, 4),
        ("Merge", "merge_state(3 groups)", 0.23, 2.5, 50, 4),
        ("ToPureDict", "to_pure_dict", 0.28, 3.6, 50, 10),
        ("RestoreIntPaths", "restore_int_paths", 0.36, 3.8, 50, 10),
        ("ReplaceByPureDict", "replace_by_pure_dict", 1.06, 13.3, 100, 10),
        ("Map", null, 0, 0, 0, 10),
        ("Zip", null, 0, 0, 0, 10),
        ("Equals", null, 0, 0, 0, 4),
        ("GetHashCode", null, 0, 0, 0, 4),
        ("SetItem", null, 0, 0, 0, 0),
        ("FilterEverything", null, 0, 0, 0, 0),
        ("SplitSubtrees", null, 0, 0, 0, 0),
    ];
}

internal static class Chart
{
    public static void Save(Run run, string path)
    {
        var plot = new ScottPlot.Plot();
        plot.Add.Palette = new ScottPlot.Palettes.Category20();
        var xsAll = new List<double>();

        void Line(string op, string impl, string label, bool dashed)
        {
            var points = run.Shapes
                .Select(s => (N: (double)Shapes.LeafCount(s), M: run.Get(op, impl, s)))
                .Where(p => p.M is not null)
                .Select(p => (X: Math.Log10(p.N), Y: Math.Log10(p.M!.MeanNs / p.N)))
                .ToArray();
            if (points.Length == 0)
                return;
            xsAll.AddRange(points.Select(p => p.X));
            var line = plot.Add.Scatter(points.Select(p => p.X).ToArray(), points.Select(p => p.Y).ToArray());
            line.LegendText = label;
            line.LineWidth = dashed ? 3 : 2;
            line.MarkerSize = 6;
            if (dashed)
            {
                line.LinePattern = ScottPlot.LinePattern.Dashed;
                line.Color = ScottPlot.Colors.Black;
            }
        }

        foreach (var (op, _, _, _, _, _) in Ops.All)
            Line(op, "StateTree", op, dashed: false);
        Line("Floor", "Walk", "floor (allocation-free walk)", dashed: true);

        static string Power(double v) => Math.Pow(10, v).ToString("#,0.#####", CultureInfo.InvariantCulture);
        foreach (var axis in new ScottPlot.IAxis[] { plot.Axes.Bottom, plot.Axes.Left })
        {
            axis.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = Power,
            };
        }

        plot.Title("StateTree: time per leaf against leaf count (log-log; one BenchmarkDotNet run)");
        plot.XLabel("leaves in the state");
        plot.YLabel("nanoseconds per leaf (mean time / leaves)");
        plot.ShowLegend(ScottPlot.Edge.Right);
        plot.SavePng(path, 1400, 800);
    }
}

internal static class Report
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Write(Run run, string? runInfo, string? memory)
    {
        var sb = new StringBuilder();
        if (runInfo is not null)
            sb.AppendLine(C, $"{runInfo}  ");
        sb.AppendLine(C, $"Environment: {run.Environment}.  ");
        sb.AppendLine(C, $"Job: `{run.Job}`.");
        sb.AppendLine();

        foreach (var shape in new[] { Shapes.Synthetic1M, Shapes.Synthetic100K }.Where(run.Shapes.Contains))
            Summary(sb, run, shape);

        PerShape(sb, run);
        Targets(sb, run, memory);
        return sb.ToString();
    }

    private static void Summary(StringBuilder sb, Run run, string shape)
    {
        var n = Shapes.LeafCount(shape);
        var floor = run.Get("Floor", "Walk", shape);
        var is1M = shape == Shapes.Synthetic1M;
        sb.AppendLine(C, $"### {shape} ({n:N0} leaves)");
        sb.AppendLine();
        sb.AppendLine(C, $"Floor walk: {Time(floor?.MeanNs)} ({PerLeaf(floor, n)} per leaf).");
        sb.AppendLine();
        sb.AppendLine("| operation | StateTree | ns/leaf | allocated | × floor | naive | StateTree ÷ naive | Flax (issue 3) | Flax ÷ StateTree |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var (op, flax, f100, f1m, _, _) in Ops.All)
        {
            var ours = run.Get(op, "StateTree", shape);
            var naive = run.Get(op, "Naive", shape);
            var flaxS = is1M ? f1m : f100;
            sb.AppendLine(C,
                $"| {op} | {Time(ours?.MeanNs)} | {PerLeaf(ours, n)} | {Bytes(ours?.Bytes)} | {Ratio(ours?.MeanNs, floor?.MeanNs)} " +
                $"| {Time(naive?.MeanNs)} | {Ratio(ours?.MeanNs, naive?.MeanNs)} " +
                $"| {(flax is null ? "—" : $"{flaxS.ToString("0.###", C)} s")} | {(flax is null ? "—" : Ratio(flaxS * 1e9, ours?.MeanNs, "0"))} |");
        }

        sb.AppendLine();
    }

    private static void PerShape(StringBuilder sb, Run run)
    {
        sb.AppendLine("### Every shape: StateTree ns per leaf (× floor of the same shape)");
        sb.AppendLine();
        Header(sb, run);
        foreach (var (op, _, _, _, _, _) in Ops.All)
        {
            sb.Append(C, $"| {op} |");
            foreach (var s in run.Shapes)
            {
                var m = run.Get(op, "StateTree", s);
                sb.Append(C, $" {PerLeaf(m, Shapes.LeafCount(s))} ({Ratio(m?.MeanNs, run.Get("Floor", "Walk", s)?.MeanNs)}) |");
            }

            sb.AppendLine();
        }

        sb.Append("| *floor* |");
        foreach (var s in run.Shapes)
            sb.Append(C, $" {PerLeaf(run.Get("Floor", "Walk", s), Shapes.LeafCount(s))} |");
        sb.AppendLine();
        sb.AppendLine();

        sb.AppendLine("### Every shape: naive ns per leaf (StateTree ÷ naive)");
        sb.AppendLine();
        Header(sb, run);
        foreach (var (op, _, _, _, _, _) in Ops.All)
        {
            sb.Append(C, $"| {op} |");
            foreach (var s in run.Shapes)
            {
                var naive = run.Get(op, "Naive", s);
                sb.Append(C, $" {PerLeaf(naive, Shapes.LeafCount(s))} ({Ratio(run.Get(op, "StateTree", s)?.MeanNs, naive?.MeanNs)}) |");
            }

            sb.AppendLine();
        }

        sb.AppendLine();
        sb.AppendLine("### Every shape: bytes allocated per operation, StateTree / naive");
        sb.AppendLine();
        Header(sb, run);
        foreach (var (op, _, _, _, _, _) in Ops.All)
        {
            sb.Append(C, $"| {op} |");
            foreach (var s in run.Shapes)
                sb.Append(C, $" {Bytes(run.Get(op, "StateTree", s)?.Bytes)} / {Bytes(run.Get(op, "Naive", s)?.Bytes)} |");
            sb.AppendLine();
        }

        sb.AppendLine();
    }

    private static void Targets(StringBuilder sb, Run run, string? memory)
    {
        sb.AppendLine("### Issue 3's targets, checked against this run");
        sb.AppendLine();
        sb.AppendLine("| target | measured | met |");
        sb.AppendLine("|---|---|:-:|");
        const string big = Shapes.Synthetic1M;

        foreach (var (op, flax, _, f1m, min, _) in Ops.All.Where(o => o.Flax is not null))
        {
            var ours = run.Get(op, "StateTree", big);
            var speedup = ours is null ? (double?)null : f1m * 1e9 / ours.MeanNs;
            sb.AppendLine(C, $"| {op} at 1M ≥ {min}× faster than Flax's {flax} ({f1m} s) | {Time(ours?.MeanNs)}: {Num(speedup, "0")}× | {Mark(speedup >= min)} |");
        }

        foreach (var (op, _, _, _, _, bound) in Ops.All.Where(o => o.MaxFloorRatio > 0))
        {
            var ratios = run.Shapes
                .Select(s => (s, r: Div(run.Get(op, "StateTree", s)?.MeanNs, run.Get("Floor", "Walk", s)?.MeanNs)))
                .ToArray();
            var missed = ratios.Where(x => x.r is null || x.r > bound).Select(x => x.s).ToArray();
            var at1M = ratios.FirstOrDefault(x => x.s == big).r;
            var detail = missed.Length == 0 ? "every shape" : $"over at {string.Join(", ", missed)}";
            sb.AppendLine(C, $"| {op} ≤ {bound}× the floor | {Num(at1M, "0.0")}× at 1M; {detail} | {Mark(at1M <= bound)}{(missed.Length > 0 && at1M <= bound ? " (1M)" : "")} |");
        }

        foreach (var op in new[] { "FilterEverything", "SplitSubtrees" })
        {
            var small = run.Get(op, "StateTree", Shapes.Synthetic100K)?.MeanNs;
            var large = run.Get(op, "StateTree", big)?.MeanNs;
            var growth = Div(large, small);
            // Ten times the leaves; a cost that follows leaves would grow about tenfold.
            sb.AppendLine(C, $"| {op}: cost follows nodes touched, not leaves | 100k: {Time(small)}, 1M: {Time(large)} (×{Num(growth, "0.0")} for ×10 leaves) | {Mark(growth < 2)} |");
        }

        var set = run.Get("SetItem", "StateTree", big);
        sb.AppendLine(C, $"| SetItem at 1M ≤ 1 µs and ≤ 2 KB | {Time(set?.MeanNs)}, {Bytes(set?.Bytes)} | {Mark(set is not null && set.MeanNs <= 1000 && set.Bytes <= 2048)} |");

        var slower = (from o in Ops.All
                      from s in run.Shapes
                      let ours = run.Get(o.Op, "StateTree", s)
                      let naive = run.Get(o.Op, "Naive", s)
                      where ours is not null && naive is not null && ours.MeanNs > naive.MeanNs
                      select $"{o.Op} on {s} ({ours.MeanNs / naive.MeanNs:0.00}×)").ToArray();
        sb.AppendLine(C, $"| no operation slower than naive | {(slower.Length == 0 ? "none slower" : "slower: " + string.Join(", ", slower))} | {Mark(slower.Length == 0)} |");
        sb.AppendLine();

        if (memory is not null)
        {
            sb.AppendLine("### Memory: bytes per leaf beyond the leaf objects (target ≤ 80)");
            sb.AppendLine();
            sb.AppendLine(memory);
            sb.AppendLine();
        }

    }

    private static void Header(StringBuilder sb, Run run)
    {
        sb.Append("| operation |");
        foreach (var s in run.Shapes)
            sb.Append(C, $" {s} ({Shapes.LeafCount(s):N0}) |");
        sb.AppendLine();
        sb.Append("|---|");
        foreach (var _ in run.Shapes)
            sb.Append("--:|");
        sb.AppendLine();
    }

    private static double? Div(double? a, double? b) => a is null || b is null || b == 0 ? null : a / b;

    private static string Ratio(double? a, double? b, string format = "0.00") => Num(Div(a, b), format) is var s && s == "—" ? s : s + "×";

    private static string Num(double? v, string format) => v is null ? "—" : v.Value.ToString(format, C);

    private static string Mark(bool? met) => met == true ? "✅" : "❌";

    private static string PerLeaf(Measurement? m, int leaves) => m is null ? "—" : (m.MeanNs / leaves).ToString(m.MeanNs / leaves < 10 ? "0.00" : "0.0", C);

    private static string Time(double? ns) => ns switch
    {
        null => "—",
        < 1e3 => $"{ns.Value.ToString("0.0", C)} ns",
        < 1e6 => $"{(ns.Value / 1e3).ToString("0.00", C)} µs",
        < 1e9 => $"{(ns.Value / 1e6).ToString("0.00", C)} ms",
        _ => $"{(ns.Value / 1e9).ToString("0.000", C)} s",
    };

    private static string Bytes(long? b) => b switch
    {
        null => "—",
        < 10_000 => $"{b} B",
        < 10_000_000 => $"{(b.Value / 1024.0).ToString("0.0", C)} KB",
        _ => $"{(b.Value / 1048576.0).ToString("0.0", C)} MB",
    };
}

/// <summary>The checkpoint benchmark: safetensors save and load against a plain FileStream of the same bytes.</summary>
internal static class Throughput
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static string Write(JsonElement root)
    {
        var means = new Dictionary<string, (double MeanNs, long Bytes)>();
        foreach (var b in root.GetProperty("Benchmarks").EnumerateArray())
        {
            if (b.GetProperty("Statistics").ValueKind == JsonValueKind.Object)
            {
                means[b.GetProperty("Method").GetString()!] = (b.GetProperty("Statistics").GetProperty("Mean").GetDouble(),
                    b.GetProperty("Memory").GetProperty("BytesAllocatedPerOperation").GetInt64());
            }
        }

        var sb = new StringBuilder();
        sb.AppendLine("### Checkpoint throughput: safetensors against a plain FileStream of the same bytes (target ≥ 80%)");
        sb.AppendLine();
        sb.AppendLine(C, $"{CheckpointBytes() / 1048576.0:N0} MiB of float32 tensors, {BenchmarkJob(root)}.");
        sb.AppendLine();
        sb.AppendLine("| operation | safetensors | plain FileStream | safetensors GiB/s | plain GiB/s | share of plain throughput | met |");
        sb.AppendLine("|---|--:|--:|--:|--:|--:|:-:|");
        foreach (var op in new[] { "Save", "Load" })
        {
            if (!means.TryGetValue($"{op}_Safetensors", out var ours) || !means.TryGetValue($"{op}_PlainFile", out var plain))
            {
                sb.AppendLine(C, $"| {op} | — | — | — | — | — | ❌ |");
                continue;
            }

            var share = plain.MeanNs / ours.MeanNs;
            sb.AppendLine(C,
                $"| {op} | {ours.MeanNs / 1e6:0} ms | {plain.MeanNs / 1e6:0} ms | {GiBs(ours.MeanNs):0.00} | {GiBs(plain.MeanNs):0.00} " +
                $"| {share:P0} | {(share >= 0.8 ? "✅" : "❌")} |");
        }

        sb.AppendLine();
        return sb.ToString();
    }

    // The benchmark's default size (STATETREE_BENCH_CHECKPOINT_TENSOR_KIB unset): 64 tensors of 16 MiB.
    private static long CheckpointBytes() => 64L * 16 * 1024 * 1024;

    private static double GiBs(double ns) => CheckpointBytes() / 1073741824.0 / (ns / 1e9);

    private static string BenchmarkJob(JsonElement root)
    {
        foreach (var b in root.GetProperty("Benchmarks").EnumerateArray())
        {
            var display = b.GetProperty("DisplayInfo").GetString()!;
            return "job `" + display[(display.IndexOf(':') + 2)..] + "`";
        }

        return "no benchmark ran";
    }
}
