using System.Text.Json;

namespace StateTree.CSharp.Tests;

/// <summary>The C# tour of README.md, line for line, with its claims asserted.</summary>
public class ReadmeTests
{
    [Fact]
    public void The_csharp_tour_works_as_the_readme_says()
    {
        var state = State.Create(new Dictionary<PathKey, object?>
        {
            ["batchnorm"] = new Dictionary<PathKey, object?>
            {
                ["bias"] = new Param(0.0), ["scale"] = new Param(1.0),
                ["mean"] = new BatchStat(0.0), ["var"] = new BatchStat(1.0),
            },
            ["linear"] = new Dictionary<PathKey, object?> { ["bias"] = new Param(0.0), ["kernel"] = new Param(0.5) },
            ["layers"] = new Dictionary<PathKey, object?>
            {
                [0] = new Dictionary<PathKey, object?> { ["kernel"] = new Param(1.0) },
                [1] = new Dictionary<PathKey, object?> { ["kernel"] = new Param(2.0) },
            },
        });

        var (parameters, stats) = state.Split(Filter.OfType<Param>(), Filter.OfType<BatchStat>());
        State merged = State.Merge(parameters, stats);
        Assert.Equal(state, merged);

        string json = JsonSerializer.Serialize(state.ToPureDict());
        Assert.Contains("\"layers\":{\"0\":", json);
        var restored = State.RestoreIntPaths(JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!);
        Assert.IsType<int>(((Dictionary<object, object?>)restored["layers"]!).Keys.First());
        State again = state.ReplaceByPureDict(restored);
        Assert.Equal(state, again);
        Assert.IsType<double>(((Param)again[KeyPath.Of("linear", "kernel")]!).Value);

        State scaled = from leaf in state where leaf is Param
                       select ((Param)leaf).WithValue((double)((Param)leaf).Value! * 0.5);
        Assert.Equal(6, scaled.LeafCount); // the six Params; the BatchStats are filtered out
        Assert.Equal(0.25, ((Param)scaled[KeyPath.Of("linear", "kernel")]!).Value);
    }
}
