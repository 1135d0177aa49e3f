using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;

namespace StateTree.Checkpoint.Tests;

/// <summary>
/// Damaged files: for 10,000 generated valid files, random truncations, bit flips, header-length edits and
/// data-offset edits either load or throw <see cref="SafetensorsException"/> — never another exception and
/// never a large allocation. Truncations and length or offset edits never load a different state.
/// </summary>
public sealed class SafetensorsCorruptionTests
{
    /// <summary>No damaged file of this size may make the reader allocate more than this.</summary>
    private const long AllocationLimit = 16 << 20;

    private static readonly Regex Number = new(@"\d+", RegexOptions.CultureInvariant);

    /// <summary>Loads damaged bytes; true when they loaded to <paramref name="original"/>, false when refused.</summary>
    private static (bool Loaded, State? State) TryLoad(byte[] bytes)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            return (true, Safetensors.Read(bytes));
        }
        catch (SafetensorsException)
        {
            return (false, null);
        }
        finally
        {
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < AllocationLimit, $"Reading {bytes.Length} damaged bytes allocated {allocated} bytes.");
        }
    }

    private static void LoadsToOriginalOrThrows(byte[] bytes, Lazy<State> original, string what)
    {
        var (loaded, state) = TryLoad(bytes);
        if (loaded)
            Assert.True(original.Value.Equals(state), $"{what} loaded a different state.");
    }

    [Fact]
    public void Damaged_files_load_or_throw_SafetensorsException() =>
        Prop.ForAll(StGen.SmallTrees, Arb.From(Gen.Choose(0, int.MaxValue)), (tree, seed) =>
        {
            var state = tree.ToState();
            var bytes = Safetensors.ToBytes(state);
            var original = new Lazy<State>(() => Safetensors.Read(bytes));
            var r = new Random(seed);

            // Truncation.
            var cut = r.Next(bytes.Length);
            LoadsToOriginalOrThrows(bytes[..cut], original, $"Truncation to {cut}");

            // A bit flip: data bits may change values, so only "loads or throws".
            var flipped = (byte[])bytes.Clone();
            var bit = r.Next(flipped.Length * 8);
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            TryLoad(flipped);

            // Header length edits: small steps, random values, and huge ones.
            var n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            var edits = new[] { n + 1, n - 1, n + 8, n - 8, (ulong)r.NextInt64(), (ulong)r.Next(bytes.Length + 16), ulong.MaxValue - (ulong)r.Next(4) };
            foreach (var edit in new[] { edits[r.Next(4)], edits[4 + r.Next(3)] })
            {
                if (edit == n)
                    continue;
                var edited = (byte[])bytes.Clone();
                BinaryPrimitives.WriteUInt64LittleEndian(edited, edit);
                LoadsToOriginalOrThrows(edited, original, $"Header length {n} -> {edit}");
            }

            // Data offset edits: replace one number inside a data_offsets array.
            var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
            var offsets = Regex.Matches(header, @"""data_offsets"":\[(\d+),(\d+)\]").SelectMany(m => m.Groups.Cast<Group>().Skip(1)).ToList();
            if (offsets.Count > 0)
            {
                var g = offsets[r.Next(offsets.Count)];
                var old = long.Parse(g.Value);
                var replacement = r.Next(4) switch
                {
                    0 => old + 1,
                    1 => Math.Max(0, old - 1),
                    2 => r.NextInt64(),
                    _ => (long)r.Next(64),
                };
                var text = header[..g.Index] + replacement + header[(g.Index + g.Length)..];
                var headerBytes = Encoding.UTF8.GetBytes(text);
                if (replacement != old)
                {
                    // Keep the declared length consistent so that the offsets themselves are what is tested.
                    var edited = StGen.FileRaw(headerBytes, bytes[(8 + (int)n)..]);
                    LoadsToOriginalOrThrows(edited, original, $"Offset {old} -> {replacement}");
                }
            }
        }).Check(StGen.Config(10_000));

    [Fact]
    public void Every_truncation_of_a_file_is_refused()
    {
        var state = State.Empty
            .SetItem(KeyPath.Of("layers", 0, "w"), new Param(new float[] { 1, 2, 3 }).WithMetadata("tag", "x"))
            .SetItem("step", 7L)
            .SetItem("empty", State.Empty);
        var bytes = Safetensors.ToBytes(state);
        for (var cut = 0; cut < bytes.Length; cut++)
        {
            var e = Assert.Throws<SafetensorsException>(() => Safetensors.Read(bytes[..cut]));
            Assert.True(Enum.IsDefined(e.Reason));
        }
    }
}
