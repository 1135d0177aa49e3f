// The C# quick start: the state of Flax's BatchNorm + Linear example, filtered, split, merged, sent
// through JSON and back, updated with an SGD step, and diffed. Run: dotnet run --project samples/QuickStart
using System.Globalization;
using System.Text.Json;
using StateTree;

namespace QuickStart;

/// <summary>The sample's body; Program.cs runs it on the console, SampleTests on a StringWriter.</summary>
public static class QuickStartSample
{
    public static void Run(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        void Section(string title) => output.WriteLine($"\n== {title} ==");
        output.WriteLine("StateTree quick start (C#): Flax NNX's State in .NET");

        // Nested dictionaries read as sub-states. Leaves are Variables holding float[] values.
        State state = State.Create(new Dictionary<PathKey, object?>
        {
            ["batchnorm"] = new Dictionary<PathKey, object?>
            {
                ["bias"] = new Param(new float[] { 0, 0, 0 }),
                ["scale"] = new Param(new float[] { 1, 1, 1 }),
                ["mean"] = new BatchStat(new float[] { 0, 0, 0 }),
                ["var"] = new BatchStat(new float[] { 1, 1, 1 }),
            },
            ["linear"] = new Dictionary<PathKey, object?>
            {
                ["bias"] = new Param(new float[] { 0, 0 }),
                ["kernel"] = new Param(new float[] { 0.5f, -0.5f, 0.25f, 1.5f, 2, -1 }),
            },
        });

        Section($"The model state ({state.LeafCount} leaves), printed in Flax's layout");
        output.WriteLine(state); // keys always in one canonical order; arrays print as dtype[shape]

        Section("Filter");
        State parameters = state.Filter(Filter.OfType<Param>());
        output.WriteLine($"Params:      {Paths(parameters)}");
        // Filters combine with & | ! and print in Flax's style.
        Filter kernel = Filter.OfType<Param>() & Filter.PathContains("kernel");
        // Two filters give two groups; a leaf goes to the first filter that matches it.
        var (kernels, stats) = state.Filter(kernel, Filter.OfType<BatchStat>());
        output.WriteLine($"Kernels:     {Paths(kernels)}   <- {kernel}");
        output.WriteLine($"BatchStats:  {Paths(stats)}");

        Section("Split (exhaustive) and Merge");
        // Split, unlike Filter, refuses to drop leaves: end with Filter.Everything to catch the rest.
        var (k, s, rest) = state.Split(kernel, Filter.OfType<BatchStat>(), Filter.Everything);
        output.WriteLine($"kernels: {k.LeafCount}, batch stats: {s.LeafCount}, rest: {Paths(rest)}");
        State merged = State.Merge(k, s, rest);
        output.WriteLine($"merged == state: {merged == state}");

        Section("Pure dict through JSON, with a list of layers (int keys)");
        // Flax's nnx.List stores its layers under int keys 0, 1, ...; Merge adds them to the model.
        State model = State.Merge(state, State.Create(new Dictionary<PathKey, object?>
        {
            ["layers"] = new Dictionary<PathKey, object?>
            {
                [0] = new Dictionary<PathKey, object?> { ["kernel"] = new Param(new float[] { 1, 2 }) },
                [1] = new Dictionary<PathKey, object?> { ["kernel"] = new Param(new float[] { 3, 4 }) },
            },
        }));
        string json = JsonSerializer.Serialize(model.ToPureDict()); // JSON object keys are strings: 0 -> "0"
        output.WriteLine($"JSON: {json}");
        var fromJson = JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!;
        var restored = State.RestoreIntPaths(fromJson); // "0" -> 0 only for canonical integer text
        var layerKeys = ((Dictionary<object, object?>)restored["layers"]!).Keys;
        output.WriteLine($"layer keys after RestoreIntPaths: {string.Join(", ", layerKeys.Select(key => $"{key} ({key.GetType().Name})"))}");
        // Load into a freshly initialised model (all zeros): the checkpoint's values replace them.
        State fresh = model.Map((_, leaf) => leaf is Variable { Value: float[] a } v ? v.WithValue(new float[a.Length]) : leaf);
        State loaded = fresh.ReplaceByPureDict(restored);
        output.WriteLine($"loaded == model: {loaded == model} (and fresh == model: {fresh == model})");
        output.WriteLine($"linear/kernel value type: {Value(loaded, "linear", "kernel").GetType().Name}");

        Section("An SGD step with LINQ and State.Zip");
        // Stand-in gradients: for the weight-decay loss ½‖w‖² the gradient of w is w itself.
        // The query keeps only Params (like Filter) and maps each to a raw float[] leaf.
        State grads = from leaf in state where leaf is Param select ((Param)leaf).Value;
        const float learningRate = 0.1f;
        // Zip walks two states with the same leaf paths, as JAX's tree.map(f, params, grads).
        State stepped = State.Zip(parameters, grads, (p, g) =>
        {
            var w = (float[])((Param)p!).Value!;
            var dw = (float[])g!;
            return ((Param)p!).WithValue(w.Select((x, i) => x - learningRate * dw[i]).ToArray());
        });
        State updated = state | stepped; // Merge: the later state wins, so BatchStats stay as they were
        output.WriteLine($"linear/kernel before: [{Floats(Value(state, "linear", "kernel"))}]");
        output.WriteLine($"linear/kernel after:  [{Floats(Value(updated, "linear", "kernel"))}]");
        output.WriteLine($"BatchStats unchanged: {updated.OfType<BatchStat>() == stats}");

        Section("Diff");
        // Diff removes leaf *paths*, ignoring values.
        State notParams = state - parameters;
        output.WriteLine($"state - params:       {Paths(notParams)}");
        output.WriteLine($"state - params == BatchStats: {notParams == stats}");
        output.WriteLine($"updated - state is empty (values are ignored): {(updated - state).LeafCount == 0}");

        Section("A mistyped checkpoint, refused with every problem");
        // The Try… form returns a LanguageExt Validation carrying one StateError per unknown path.
        var wrong = new Dictionary<object, object?>
        {
            ["linaer"] = new Dictionary<object, object?> { ["kernel"] = new float[] { 1, 2 } },
            ["layers"] = new Dictionary<object, object?> { ["5"] = new Dictionary<object, object?> { ["kernel"] = new float[] { 3 } } },
        };
        model.TryReplaceByPureDict(wrong).Match(
            Succ: _ => output.WriteLine("unexpected: the checkpoint was accepted"),
            Fail: errors =>
            {
                output.WriteLine($"{errors.Count} problems:");
                foreach (var e in errors)
                    output.WriteLine($"  {e.Message}");
            });
    }

    private static string Paths(State s) => s.LeafCount == 0 ? "(none)" : string.Join(", ", s.Flatten().Select(p => p.Path));

    private static object Value(State s, params PathKey[] path) => ((Variable)s[KeyPath.Of(path)]!).Value!;

    private static string Floats(object values) =>
        string.Join(", ", ((float[])values).Select(x => x.ToString("0.###", CultureInfo.InvariantCulture)));
}
