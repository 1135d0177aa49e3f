using System.Diagnostics;

namespace StateTree.Checkpoint.Tests;

/// <summary>
/// Crash safety: a writer process killed in the middle of a save leaves the previous checkpoint intact, and
/// never a truncated file under the final name.
/// </summary>
public sealed class SafetensorsCrashTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("st-crash-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static readonly State Previous = State.Empty
        .SetItem(KeyPath.Of("layers", 0, "kernel"), new Param(new float[] { 1, 2, 3 }))
        .SetItem("step", 41L);

    private static Process StartWriter(string path, string mode)
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(host) || !File.Exists(host))
            host = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(CrashWriter).Assembly.Location);
        info.ArgumentList.Add("crash-writer");
        info.ArgumentList.Add(path);
        info.ArgumentList.Add(mode);
        return Process.Start(info)!;
    }

    private static void WaitForLine(Process p, string expected)
    {
        var read = p.StandardOutput.ReadLineAsync();
        if (!read.Wait(TimeSpan.FromSeconds(60)))
        {
            p.Kill(true);
            Assert.Fail($"The writer did not print {expected} in time.");
        }

        if (read.Result != expected)
        {
            p.Kill(true);
            Assert.Fail($"The writer printed '{read.Result}' instead of {expected}: {p.StandardError.ReadToEnd()}");
        }
    }

    private void AssertOnlyCheckpointAndTemporaries(string path)
    {
        foreach (var f in Directory.GetFiles(folder).Select(Path.GetFileName))
        {
            Assert.True(
                f == Path.GetFileName(path) || (f!.StartsWith(".model.safetensors.", StringComparison.Ordinal) && f.EndsWith(".tmp", StringComparison.Ordinal)),
                $"Unexpected file {f}");
        }
    }

    [Fact]
    public void Killing_a_writer_midway_leaves_the_previous_checkpoint_intact()
    {
        var path = Path.Combine(folder, "model.safetensors");
        Safetensors.Save(Previous, path);
        var before = File.ReadAllBytes(path);

        using var writer = StartWriter(path, "hook");
        WaitForLine(writer, "MIDWAY");
        // The new checkpoint is half written, in a temporary file beside the target.
        var temp = Assert.Single(Directory.GetFiles(folder, ".model.safetensors.*.tmp"));
        Assert.True(new FileInfo(temp).Length > 0);
        writer.Kill(entireProcessTree: true);
        writer.WaitForExit();

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(Previous, Safetensors.Load(path));
        Assert.Equal(Previous, Safetensors.Load(folder));
        AssertOnlyCheckpointAndTemporaries(path);

        // A leftover temporary file does not get in the way of the next save.
        var next = Previous.SetItem("step", 42L);
        Safetensors.Save(next, path);
        Assert.Equal(next, Safetensors.Load(folder));
    }

    [Fact]
    public void Killing_a_writer_at_any_moment_leaves_a_whole_checkpoint()
    {
        var path = Path.Combine(folder, "model.safetensors");
        Safetensors.Save(Previous, path);
        var before = File.ReadAllBytes(path);
        var large = new Lazy<State>(CrashWriter.Large);
        var random = new Random(1234);
        for (var round = 0; round < 2; round++)
        {
            using var writer = StartWriter(path, "loop");
            WaitForLine(writer, "START");
            Thread.Sleep(random.Next(100, 900));
            writer.Kill(entireProcessTree: true);
            writer.WaitForExit();

            AssertOnlyCheckpointAndTemporaries(path);
            var bytes = File.ReadAllBytes(path);
            if (!bytes.AsSpan().SequenceEqual(before))
                Assert.Equal(large.Value, Safetensors.Load(path));
        }
    }
}
