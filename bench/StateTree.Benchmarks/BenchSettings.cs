namespace StateTree.Benchmarks;

/// <summary>
/// Settings passed from the command line to the benchmark processes. BenchmarkDotNet runs each
/// benchmark in a child process, which inherits the environment, so the shape selection travels
/// as an environment variable.
/// </summary>
public static class BenchSettings
{
    public const string ShapesVariable = "STATETREE_BENCH_SHAPES";

    /// <summary>The shapes named in <see cref="ShapesVariable"/> (comma-separated), or all of them.</summary>
    public static IEnumerable<string> SelectedShapes()
    {
        var selected = Environment.GetEnvironmentVariable(ShapesVariable);
        if (string.IsNullOrWhiteSpace(selected))
            return Shapes.All;
        var names = selected.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var name in names)
            _ = Shapes.LeafCount(name); // throws for an unknown name, before any benchmark starts
        return names;
    }
}
