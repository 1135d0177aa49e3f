using System.Diagnostics;
using System.Globalization;

namespace StateTree.Benchmarks;

/// <summary>
/// What a run measured: the command, when, and which source (commit, and whether src/ had uncommitted
/// changes). Written beside BenchmarkDotNet's exports; the chart program copies it into RESULTS.md.
/// </summary>
public static class RunInfo
{
    /// <summary>Read before the run starts, so edits made while it runs are not attributed to it.</summary>
    public static string Source()
    {
        var commit = Git("rev-parse --short HEAD") ?? "unknown commit";
        var dirty = Git("status --porcelain -- src");
        return dirty is null ? commit : dirty.Length == 0 ? commit : $"{commit} with uncommitted changes in src/";
    }

    public static void Write(string path, string[] args, DateTimeOffset started, string source)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var minutes = (DateTimeOffset.UtcNow - started).TotalMinutes;
        var command = "dotnet run -c Release --project bench/StateTree.Benchmarks" + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
        File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture,
            $"Command: `{command}`; started {started:yyyy-MM-dd HH:mm} UTC, took {minutes:0} minutes; source: {source}.\n"));
    }

    private static string? Git(string arguments)
    {
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", arguments) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (git is null)
                return null;
            var output = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git on this machine
        }
    }
}
