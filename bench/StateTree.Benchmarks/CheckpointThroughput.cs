using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using StateTree.Checkpoint;

namespace StateTree.Benchmarks;

/// <summary>
/// Checkpoint throughput: <see cref="Safetensors.Save"/> and <see cref="Safetensors.Load(string)"/> of a state of
/// 64 float32 tensors (16 MiB each, 1 GiB in all) against the floor, a plain <see cref="FileStream"/> write and read
/// of the same bytes, measured in one run. Method names are <c>{Operation}_{Implementation}</c> like the rest of the
/// suite; the plain file is each category's baseline, so the Ratio column is the cost of the format (target:
/// ≤ 1.25, i.e. at least 80% of the plain throughput).
/// </summary>
/// <remarks>
/// Both writes end with the data flushed to disk (<c>Flush(flushToDisk: true)</c>), as <see cref="Safetensors.Save"/>
/// guarantees; Save also writes its header, goes through a temporary file and renames it. Both reads allocate the
/// arrays they fill, as a load must, the plain read without zeroing them first (<see cref="GC.AllocateUninitializedArray{T}"/>,
/// the floor a loader can reach); Load also parses the header and builds the <see cref="State"/>. The files live
/// in a temporary folder, deleted in <see cref="Cleanup"/>. The tensor size comes from
/// <see cref="TensorKibVariable"/>: the CI dry run sets it to a few KiB.
/// </remarks>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public class CheckpointThroughput
{
    /// <summary>The size of each tensor in KiB (default 16384: 16 MiB, so 64 tensors make 1 GiB).</summary>
    public const string TensorKibVariable = "STATETREE_BENCH_CHECKPOINT_TENSOR_KIB";

    private const int TensorCount = 64;

    private string folder = "";
    private string safetensorsFile = "";
    private string plainFile = "";
    private float[][] tensors = [];
    private State state = State.Empty;

    /// <summary>The tensor size in bytes, from <see cref="TensorKibVariable"/>.</summary>
    public static long TensorBytes =>
        1024L * (int.TryParse(Environment.GetEnvironmentVariable(TensorKibVariable), out var kib) && kib > 0 ? kib : 16 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        folder = Directory.CreateTempSubdirectory("statetree-bench-checkpoint-").FullName;
        safetensorsFile = Path.Combine(folder, "model.safetensors");
        plainFile = Path.Combine(folder, "model.bin");
        var random = new Random(42);
        var length = checked((int)(TensorBytes / sizeof(float)));
        tensors = new float[TensorCount][];
        var leaves = new List<(KeyPath, object?)>(TensorCount);
        for (var i = 0; i < TensorCount; i++)
        {
            var values = new float[length];
            for (var j = 0; j < values.Length; j++)
                values[j] = (float)random.NextDouble();
            tensors[i] = values;
            leaves.Add((KeyPath.Of("layers", i, "kernel"), new Param(values)));
        }

        state = State.FromFlatState(leaves);
    }

    [GlobalSetup(Target = nameof(Load_Safetensors))]
    public void SetupSafetensorsFile()
    {
        Setup();
        Safetensors.Save(state, safetensorsFile);
        if (Safetensors.Load(safetensorsFile) != state)
            throw new InvalidOperationException("The checkpoint does not load back as saved.");
    }

    [GlobalSetup(Target = nameof(Load_PlainFile))]
    public void SetupPlainFile()
    {
        Setup();
        Save_PlainFile();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        tensors = [];
        state = State.Empty;
        if (Directory.Exists(folder))
            Directory.Delete(folder, recursive: true);
    }

    // ---- save ----------------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Save")]
    public void Save_Safetensors() => Safetensors.Save(state, safetensorsFile);

    [Benchmark(Baseline = true), BenchmarkCategory("Save")]
    public void Save_PlainFile()
    {
        using var stream = new FileStream(plainFile, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        foreach (var tensor in tensors)
            stream.Write(MemoryMarshal.AsBytes(tensor.AsSpan()));
        stream.Flush(flushToDisk: true);
    }

    // ---- load ----------------------------------------------------------------------------------

    [Benchmark, BenchmarkCategory("Load")]
    public State Load_Safetensors() => Safetensors.Load(safetensorsFile);

    [Benchmark(Baseline = true), BenchmarkCategory("Load")]
    public float[][] Load_PlainFile()
    {
        var length = checked((int)(TensorBytes / sizeof(float)));
        var result = new float[TensorCount][];
        using var stream = new FileStream(plainFile, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        for (var i = 0; i < TensorCount; i++)
        {
            result[i] = GC.AllocateUninitializedArray<float>(length);
            stream.ReadExactly(MemoryMarshal.AsBytes(result[i].AsSpan()));
        }

        return result;
    }
}
