using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace StateTree.Checkpoint;

/// <summary>Turns leaf values into little-endian bytes and back, for one element type.</summary>
internal abstract class TensorCodec
{
    /// <summary>Bytes moved per span: keeps spans of bytes within int range for tensors above 2 GiB.</summary>
    private const int Chunk = 1 << 24;

    private static readonly Dictionary<Type, TensorCodec> Codecs = new()
    {
        [typeof(double)] = new TensorCodec<double>(),
        [typeof(float)] = new TensorCodec<float>(),
        [typeof(Half)] = new TensorCodec<Half>(),
        [typeof(BFloat16)] = new TensorCodec<BFloat16>(),
        [typeof(long)] = new TensorCodec<long>(),
        [typeof(int)] = new TensorCodec<int>(),
        [typeof(short)] = new TensorCodec<short>(),
        [typeof(sbyte)] = new TensorCodec<sbyte>(),
        [typeof(ulong)] = new TensorCodec<ulong>(),
        [typeof(uint)] = new TensorCodec<uint>(),
        [typeof(ushort)] = new TensorCodec<ushort>(),
        [typeof(byte)] = new TensorCodec<byte>(),
        [typeof(bool)] = new TensorCodec<bool>(),
    };

    /// <summary>The codec of an element type listed in <see cref="Dtypes"/>.</summary>
    public static TensorCodec For(Type elementType) => Codecs[elementType];

    /// <summary>Writes a value that <c>TensorLeaf.TryDescribe</c> accepted.</summary>
    public static void Write(Stream stream, object value, Dtype dtype, TensorLeaf.Kind kind)
    {
        if (value is RawTensor raw)
            stream.Write(raw.DataArray);
        else
            For(dtype.ElementType!).WriteValue(stream, value, kind);
    }

    /// <summary>
    /// Reads a validated tensor entry as the given representation. Throws <see cref="SafetensorsException"/>
    /// when .NET cannot hold it (more elements than an array takes, or a representation the shape does not allow).
    /// </summary>
    public static object Read(ByteSource source, long dataStart, TensorInfo info, Dtype dtype, TensorLeaf.Kind kind)
    {
        var count = info.ElementCount;
        if (kind == TensorLeaf.Kind.Raw || dtype.ElementType is null)
        {
            if (info.ByteLength > Array.MaxLength)
                throw TooLarge(info);
            var bytes = new byte[info.ByteLength];
            source.Read(dataStart + info.Begin, bytes);
            return new RawTensor(info.Dtype, info.Shape, bytes);
        }

        if (count > Array.MaxLength)
            throw TooLarge(info);
        return For(dtype.ElementType).ReadValue(source, dataStart + info.Begin, info, (int)count, kind);
    }

    private protected static SafetensorsException TooLarge(TensorInfo info) =>
        new(
            SafetensorsError.TensorInvalidInfo,
            $"The tensor '{info.Name}' ({info.Dtype}[{string.Join(",", info.Shape)}]) has more elements than a .NET array holds.",
            info.Name);

    private protected static SafetensorsException BadKind(TensorInfo info, string why) =>
        new(SafetensorsError.InvalidHeaderDeserialization, $"The tensor '{info.Name}' cannot load as recorded: {why}.", info.Name);

    private protected abstract void WriteValue(Stream stream, object value, TensorLeaf.Kind kind);

    private protected abstract object ReadValue(ByteSource source, long offset, TensorInfo info, int count, TensorLeaf.Kind kind);

    /// <summary>Writes <paramref name="byteCount"/> bytes from <paramref name="start"/>, as little-endian elements.</summary>
    private protected static void WriteBytes(Stream stream, ref byte start, long byteCount, int elementSize)
    {
        byte[]? scratch = null;
        for (long done = 0; done < byteCount;)
        {
            var n = (int)Math.Min(Chunk, byteCount - done);
            var span = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref start, (nint)done), n);
            if (BitConverter.IsLittleEndian || elementSize == 1)
            {
                stream.Write(span);
            }
            else
            {
                scratch ??= new byte[Math.Min(Chunk, byteCount)];
                span.CopyTo(scratch);
                SwapBytes(scratch.AsSpan(0, n), elementSize);
                stream.Write(scratch, 0, n);
            }

            done += n;
        }
    }

    /// <summary>Fills <paramref name="byteCount"/> bytes at <paramref name="start"/> from the source, as native elements.</summary>
    private protected static void ReadBytes(ByteSource source, long offset, ref byte start, long byteCount, int elementSize)
    {
        for (long done = 0; done < byteCount;)
        {
            var n = (int)Math.Min(Chunk, byteCount - done);
            var span = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref start, (nint)done), n);
            source.Read(offset + done, span);
            if (!BitConverter.IsLittleEndian && elementSize > 1)
                SwapBytes(span, elementSize);
            done += n;
        }
    }

    private static void SwapBytes(Span<byte> bytes, int elementSize)
    {
        for (var i = 0; i + elementSize <= bytes.Length; i += elementSize)
            bytes.Slice(i, elementSize).Reverse();
    }
}

/// <summary>The codec of one unmanaged element type.</summary>
internal sealed class TensorCodec<T> : TensorCodec
    where T : unmanaged
{
    private static readonly int Size = Unsafe.SizeOf<T>();

    private protected override void WriteValue(Stream stream, object value, TensorLeaf.Kind kind)
    {
        switch (value)
        {
            case T scalar:
                WriteBytes(stream, ref Unsafe.As<T, byte>(ref scalar), Size, Size);
                break;
            case T[] array:
                WriteBytes(stream, ref MemoryMarshal.GetArrayDataReference(array).AsByte(), (long)array.Length * Size, Size);
                break;
            case Array md:
                WriteBytes(stream, ref MemoryMarshal.GetArrayDataReference(md), md.LongLength * Size, Size);
                break;
            case Tensor<T> tensor:
            {
                var count = (long)tensor.FlattenedLength;
                if (count == 0)
                    break;
                if (tensor.IsDense)
                {
                    // Tensor.GetPinnableReference gives the start of the backing array, not of a sliced view, and
                    // GetSpan refuses spans across length-1 dimensions (stride 0): the tensor span's reference is right.
                    ref readonly var first = ref tensor.AsReadOnlyTensorSpan().GetPinnableReference();
                    WriteBytes(stream, ref Unsafe.As<T, byte>(ref Unsafe.AsRef(in first)), count * Size, Size);
                }
                else
                {
                    var copy = new T[count];
                    tensor.FlattenTo(copy);
                    WriteBytes(stream, ref MemoryMarshal.GetArrayDataReference(copy).AsByte(), count * Size, Size);
                }

                break;
            }

            default:
                throw new InvalidOperationException($"A {value.GetType()} is not a {typeof(T)} tensor.");
        }
    }

    private protected override object ReadValue(ByteSource source, long offset, TensorInfo info, int count, TensorLeaf.Kind kind)
    {
        var shape = info.Shape;
        switch (kind)
        {
            case TensorLeaf.Kind.Scalar:
            {
                if (shape.Length != 0)
                    throw BadKind(info, "a scalar needs the shape []");
                T value = default;
                ReadBytes(source, offset, ref Unsafe.As<T, byte>(ref value), Size, Size);
                Normalize(MemoryMarshal.CreateSpan(ref value, 1));
                return value;
            }

            case TensorLeaf.Kind.Array when shape.Length == 1:
            {
                // Not zeroed first: Fill overwrites every byte or throws, and the array is then dropped.
                var array = GC.AllocateUninitializedArray<T>(count);
                Fill(source, offset, array);
                return array;
            }

            case TensorLeaf.Kind.Array:
            {
                // Array.CreateInstance throws OutOfMemoryException for a dimension above Array.MaxLength, even
                // when another dimension is 0.
                if (shape.Length is 0 or > 32 || shape.Any(d => d > Array.MaxLength))
                    throw BadKind(info, $"a multi-dimensional array needs 2 to 32 dimensions of at most {Array.MaxLength}");
                var md = Array.CreateInstance(typeof(T), shape.Select(d => (int)d).ToArray());
                ref var start = ref MemoryMarshal.GetArrayDataReference(md);
                ReadBytes(source, offset, ref start, (long)count * Size, Size);
                Normalize(MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref start), count));
                return md;
            }

            default:
            {
                if (shape.Length == 0)
                    throw BadKind(info, "a Tensor<T> needs at least one dimension");
                var array = GC.AllocateUninitializedArray<T>(count);
                Fill(source, offset, array);
                var lengths = new nint[shape.Length];
                for (var i = 0; i < lengths.Length; i++)
                    lengths[i] = (nint)shape[i];
                return Tensor.Create(array, lengths);
            }
        }
    }

    private static void Fill(ByteSource source, long offset, T[] array)
    {
        ReadBytes(source, offset, ref MemoryMarshal.GetArrayDataReference(array).AsByte(), (long)array.Length * Size, Size);
        Normalize(array);
    }

    /// <summary>A BOOL byte other than 0 or 1 is true, and is stored as a proper <see cref="bool"/>.</summary>
    private static void Normalize(Span<T> values)
    {
        if (typeof(T) != typeof(bool))
            return;
        foreach (ref var b in MemoryMarshal.AsBytes(values))
        {
            if (b > 1)
                b = 1;
        }
    }
}

/// <summary>Reinterpretation helper.</summary>
internal static class RefExtensions
{
    /// <summary>The same reference, as a reference to its first byte.</summary>
    public static ref byte AsByte<T>(ref this T value)
        where T : unmanaged => ref Unsafe.As<T, byte>(ref value);
}
