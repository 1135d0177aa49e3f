using System.Numerics.Tensors;

namespace StateTree.Checkpoint.Tests;

/// <summary>
/// The test assembly's entry point. Under <c>dotnet test</c> it is never called; the crash-safety tests run
/// the assembly itself as a child process (<c>dotnet StateTree.Checkpoint.Tests.dll crash-writer …</c>) that
/// they kill in the middle of a save.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 3 && args[0] == "crash-writer")
            return CrashWriter.Run(args[1], args[2]);
        Console.Error.WriteLine("This is a test assembly: run it with 'dotnet test'.");
        return 2;
    }
}

/// <summary>The child process of the crash-safety tests.</summary>
public static class CrashWriter
{
    /// <summary>The large state the child saves: 12 tensors of 1M floats (48 MB), deterministic.</summary>
    public static State Large()
    {
        var s = State.Empty;
        for (var i = 0; i < 12; i++)
        {
            var values = new float[1 << 20];
            for (var j = 0; j < values.Length; j++)
                values[j] = i * 1000 + j % 977;
            s = s.SetItem(KeyPath.Of("layers", i, "kernel"), new Param(Tensor.Create(values, [1024, 1024])));
        }

        return s;
    }

    /// <summary>
    /// "hook": saves once, stopping after the first tensor to print MIDWAY and wait to be killed.
    /// "loop": prints START and saves again and again until killed.
    /// </summary>
    public static int Run(string path, string mode)
    {
        var state = Large();
        if (mode == "hook")
        {
            var first = true;
            Safetensors.TensorWritten = _ =>
            {
                if (!first)
                    return;
                first = false;
                Console.Out.WriteLine("MIDWAY");
                Console.Out.Flush();
                Thread.Sleep(TimeSpan.FromSeconds(60));
            };
            Safetensors.Save(state, path);
            return 1; // not killed: the parent failed to act
        }

        Console.Out.WriteLine("START");
        Console.Out.Flush();
        for (var i = 0; i < 1000; i++)
            Safetensors.Save(state, path);
        return 0;
    }
}
