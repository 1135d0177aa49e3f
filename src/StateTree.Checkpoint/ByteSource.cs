using Microsoft.Win32.SafeHandles;

namespace StateTree.Checkpoint;

/// <summary>Random access to the bytes of a safetensors file: a file on disk, or bytes in memory for tests.</summary>
internal abstract class ByteSource : IDisposable
{
    /// <summary>The length in bytes.</summary>
    public abstract long Length { get; }

    /// <summary>
    /// Fills <paramref name="destination"/> from <paramref name="offset"/>; a source that ends early (a file
    /// cut while being read) throws <see cref="SafetensorsException"/> (MetadataIncompleteBuffer).
    /// </summary>
    public abstract void Read(long offset, Span<byte> destination);

    /// <inheritdoc/>
    public virtual void Dispose()
    {
    }

    /// <summary>The error for a source that ended before the header said it would.</summary>
    protected static SafetensorsException EndedEarly(long offset) =>
        new(SafetensorsError.MetadataIncompleteBuffer, $"The file ended at byte {offset}, before the data the header describes.");

    /// <summary>A file opened for reading, read with positional reads (no shared file position).</summary>
    public static ByteSource OpenFile(string path) => new FileSource(path);

    /// <summary>Bytes in memory.</summary>
    public static ByteSource FromMemory(ReadOnlyMemory<byte> bytes) => new MemorySource(bytes);

    /// <summary>A seekable stream (not disposed with the source).</summary>
    public static ByteSource FromStream(Stream stream) => new StreamSource(stream);

    private sealed class FileSource(string path) : ByteSource
    {
        private readonly SafeFileHandle handle =
            File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);

        public override long Length => RandomAccess.GetLength(handle);

        public override void Read(long offset, Span<byte> destination)
        {
            while (destination.Length > 0)
            {
                var n = RandomAccess.Read(handle, destination, offset);
                if (n <= 0)
                    throw EndedEarly(offset);
                destination = destination[n..];
                offset += n;
            }
        }

        public override void Dispose() => handle.Dispose();
    }

    private sealed class MemorySource(ReadOnlyMemory<byte> bytes) : ByteSource
    {
        public override long Length => bytes.Length;

        public override void Read(long offset, Span<byte> destination)
        {
            if (offset < 0 || offset > bytes.Length || destination.Length > bytes.Length - offset)
                throw EndedEarly(Math.Min(Math.Max(offset, 0), bytes.Length));
            bytes.Span.Slice((int)offset, destination.Length).CopyTo(destination);
        }
    }

    private sealed class StreamSource(Stream stream) : ByteSource
    {
        public override long Length => stream.Length;

        public override void Read(long offset, Span<byte> destination)
        {
            stream.Position = offset;
            while (destination.Length > 0)
            {
                var n = stream.Read(destination);
                if (n <= 0)
                    throw EndedEarly(offset);
                destination = destination[n..];
                offset += n;
            }
        }
    }
}
