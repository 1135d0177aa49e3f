using QuickStart;

namespace StateTree.CSharp.Tests;

/// <summary>The C# quick start (samples/QuickStart) runs, and every claim it prints holds.</summary>
public class SampleTests
{
    [Fact]
    public void The_quick_start_sample_prints_the_outcomes_it_claims()
    {
        using var output = new StringWriter();
        QuickStartSample.Run(output);
        var text = output.ToString().ReplaceLineEndings("\n");

        Assert.Contains("'linear': {\n    'bias': Param( # 2 (8 B)\n      value=float32[2]\n    ),", text);
        Assert.Contains("Params:      batchnorm/bias, batchnorm/scale, linear/bias, linear/kernel\n", text);
        Assert.Contains("BatchStats:  batchnorm/mean, batchnorm/var\n", text);
        Assert.Contains("kernels: 1, batch stats: 2, rest: batchnorm/bias, batchnorm/scale, linear/bias\n", text);
        Assert.Contains("merged == state: True\n", text);
        Assert.Contains("\"layers\":{\"0\":{\"kernel\":[1,2]},\"1\":{\"kernel\":[3,4]}}", text);
        Assert.Contains("layer keys after RestoreIntPaths: 0 (Int32), 1 (Int32)\n", text);
        Assert.Contains("loaded == model: True (and fresh == model: False)\n", text);
        Assert.Contains("linear/kernel value type: Single[]\n", text);
        Assert.Contains("linear/kernel after:  [0.45, -0.45, 0.225, 1.35, 1.8, -0.9]\n", text);
        Assert.Contains("BatchStats unchanged: True\n", text);
        Assert.Contains("state - params == BatchStats: True\n", text);
        Assert.Contains("updated - state is empty (values are ignored): True\n", text);
        Assert.Contains(
            "2 problems:\n"
            + "  key in pure_dict not available in state: ('linaer', 'kernel')\n"
            + "  key in pure_dict not available in state: ('layers', '5', 'kernel')\n",
            text);
        Assert.DoesNotContain("unexpected", text);
    }
}
