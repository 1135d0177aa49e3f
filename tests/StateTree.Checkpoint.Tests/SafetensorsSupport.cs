using System.Numerics.Tensors;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace StateTree.Checkpoint.Tests;

/// <summary>A user Variable subclass with a (value) constructor: the structure record must bring it back by name.</summary>
public sealed class StLoraParam : Param
{
    public StLoraParam(object? value) : base(value) { }
}

/// <summary>A user Variable subclass with only a parameterless constructor.</summary>
public sealed class StCounter : Variable
{
    public StCounter() : base(null) { }
}

/// <summary>A generated state, kept as a tree of plain nodes so that it shrinks by removing entries.</summary>
public sealed class StTree
{
    public StTree(SortedDictionary<PathKey, object> children) => Children = children;

    /// <summary>Children: an <see cref="StTree"/> (a sub-state, maybe empty) or a leaf.</summary>
    public SortedDictionary<PathKey, object> Children { get; }

    public State ToState()
    {
        var s = State.Empty;
        foreach (var (k, v) in Children)
            s = s.SetItem(k, v is StTree t ? t.ToState() : v);
        return s;
    }

    /// <summary>Every tree with one entry (leaf or sub-tree) removed, or one sub-tree shrunk.</summary>
    public IEnumerable<StTree> Shrink()
    {
        foreach (var k in Children.Keys)
        {
            var copy = new SortedDictionary<PathKey, object>(Children);
            copy.Remove(k);
            yield return new StTree(copy);
        }

        foreach (var (k, v) in Children)
        {
            if (v is not StTree sub)
                continue;
            foreach (var smaller in sub.Shrink())
            {
                var copy = new SortedDictionary<PathKey, object>(Children) { [k] = smaller };
                yield return new StTree(copy);
            }
        }
    }

    public override string ToString() => ToState().ToString();
}

/// <summary>Generators (with shrinkers) of states covering every dtype, representation and awkward key.</summary>
public static class StGen
{
    /// <summary>Keys that stress the name escaping: dots, backslashes, integer-looking strings, empty and non-ASCII text.</summary>
    public static readonly string[] NastyNames =
    [
        "kernel", "bias", "a.b", ".", "..", "\\", "a\\b", "a\\.b", "\\.", "0", "17", "-3", "05", "+4", "-0", "",
        "2147483648", "x\"y", "tab\there", "new\nline", "\u0001", "\u007f", "é", "\u00e9t\u00e9", "\ud83d\ude00", "\ue000",
        "layers", "\\0", "1.5", " 2 ",
    ];

    public static Gen<PathKey> Key { get; } = Gen.Frequency(
        (3, Gen.Choose(-3, 20).Select(i => (PathKey)i)),
        (4, Gen.Elements(NastyNames).Select(s => (PathKey)s)),
        (1, Gen.Elements("abcdefg.\\0".ToCharArray()).ArrayOf().Select(cs => (PathKey)new string(cs))));

    /// <summary>Element types with their dtype names.</summary>
    public static readonly Type[] ElementTypes =
    [
        typeof(double), typeof(float), typeof(Half), typeof(BFloat16), typeof(long), typeof(int), typeof(short),
        typeof(sbyte), typeof(ulong), typeof(uint), typeof(ushort), typeof(byte), typeof(bool),
    ];

    public static readonly string[] RawOnlyDtypes = ["F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64", "F4", "F6_E2M3", "F6_E3M2"];

    /// <summary>A random value of an element type, including NaNs and infinities for floats.</summary>
    public static object RandomElement(Type t, Random r)
    {
        var bytes = new byte[8];
        r.NextBytes(bytes);
        var special = r.Next(8) == 0;
        return t switch
        {
            _ when t == typeof(double) => special ? double.NaN : BitConverter.ToDouble(bytes),
            _ when t == typeof(float) => special ? float.NegativeInfinity : BitConverter.ToSingle(bytes),
            _ when t == typeof(Half) => special ? Half.NaN : BitConverter.ToHalf(bytes),
            _ when t == typeof(BFloat16) => BFloat16.FromRawBits(BitConverter.ToUInt16(bytes)),
            _ when t == typeof(long) => BitConverter.ToInt64(bytes),
            _ when t == typeof(int) => BitConverter.ToInt32(bytes),
            _ when t == typeof(short) => BitConverter.ToInt16(bytes),
            _ when t == typeof(sbyte) => (sbyte)bytes[0],
            _ when t == typeof(ulong) => BitConverter.ToUInt64(bytes),
            _ when t == typeof(uint) => BitConverter.ToUInt32(bytes),
            _ when t == typeof(ushort) => BitConverter.ToUInt16(bytes),
            _ when t == typeof(byte) => bytes[0],
            _ when t == typeof(bool) => (bytes[0] & 1) == 1,
            _ => throw new ArgumentException(t.ToString()),
        };
    }

    /// <summary>A flat array of random elements.</summary>
    public static Array RandomArray(Type t, int count, Random r)
    {
        var a = Array.CreateInstance(t, count);
        for (var i = 0; i < count; i++)
            a.SetValue(RandomElement(t, r), i);
        return a;
    }

    /// <summary>A Tensor&lt;T&gt; over a flat array.</summary>
    public static object MakeTensor(Array flat, long[] shape) =>
        typeof(StGen).GetMethod(nameof(MakeTensorOf), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(flat.GetType().GetElementType()!)
            .Invoke(null, [flat, shape])!;

    private static Tensor<T> MakeTensorOf<T>(T[] flat, long[] shape) => Tensor.Create(flat, shape.Select(d => (nint)d).ToArray());

    /// <summary>A multi-dimensional array holding the flat elements in row-major order.</summary>
    public static Array MakeMdArray(Array flat, long[] shape)
    {
        var md = Array.CreateInstance(flat.GetType().GetElementType()!, shape.Select(d => (int)d).ToArray());
        var index = new int[shape.Length];
        for (var i = 0; i < flat.Length; i++)
        {
            md.SetValue(flat.GetValue(i), index);
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                if (++index[d] < shape[d])
                    break;
                index[d] = 0;
            }
        }

        return md;
    }

    private static Gen<long[]> Shape(int minRank) =>
        from rank in Gen.Choose(minRank, 3)
        from dims in Gen.Frequency((6, Gen.Choose(1, 3)), (1, Gen.Constant(0))).ArrayOf(rank)
        select dims.Select(d => (long)d).ToArray();

    /// <summary>A storable raw value: tensor, array, multi-dimensional array, scalar or raw tensor, of any dtype.</summary>
    public static Gen<object> Value { get; } =
        from kind in Gen.Choose(0, 5)
        from type in Gen.Elements(ElementTypes)
        from shape in Shape(kind == 3 ? 0 : kind == 2 ? 2 : 1)
        from seed in Gen.Choose(0, int.MaxValue)
        from rawDtype in Gen.Elements(RawOnlyDtypes)
        select MakeValue(kind, type, kind == 3 ? [] : kind == 1 ? [shape[0]] : shape, seed, rawDtype);

    private static object MakeValue(int kind, Type type, long[] shape, int seed, string rawDtype)
    {
        var r = new Random(seed);
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        switch (kind)
        {
            case 0:
            case 5:
                return MakeTensor(RandomArray(type, count, r), shape);
            case 1:
                return RandomArray(type, count, r);
            case 2:
                return MakeMdArray(RandomArray(type, count, r), shape);
            case 3:
                return RandomElement(type, r);
            default:
            {
                // F4 packs two elements per byte, F6 four per three bytes: keep counts that fill whole bytes.
                var bits = rawDtype switch { "F4" => 4, "F6_E2M3" or "F6_E3M2" => 6, "C64" => 64, _ => 8 };
                if (count * bits % 8 != 0)
                    shape = shape.Length == 0 ? [8] : [.. shape.SkipLast(1), shape[^1] * 8];
                count = (int)shape.Aggregate(1L, (a, b) => a * b);
                var data = new byte[count * bits / 8];
                r.NextBytes(data);
                return new RawTensor(rawDtype, shape, data);
            }
        }
    }

    private static readonly Gen<object?> MetadataValue = Gen.OneOf(
        Gen.Elements<object?>("x", "", "dropout", "é.\\\"", null, true, false),
        Gen.Choose(-5, 5).Select(i => (object?)i),
        Gen.Choose(-5, 5).Select(i => (object?)(long)i),
        Gen.Elements<object?>(0.1, -0.0, double.NaN, 1e300, 0.5f, float.PositiveInfinity, (Half)1.5, BFloat16.FromSingle(2.5f),
            (byte)7, (sbyte)-7, (short)-300, (ushort)300, 5u, 6ul, 1.25m, 'c', new[] { 1, 2 }, new[] { "a", null }, new[] { 1.5, double.NaN }));

    /// <summary>A leaf: a raw value or a Variable (built-in or user subclass) with metadata.</summary>
    public static Gen<object> Leaf { get; } = Gen.Frequency(
        (2, Value),
        (3,
            from value in Value
            from type in Gen.Choose(0, 6)
            from meta in Gen.Zip(Gen.Elements("tag", "sharding", "x.y", "é", ""), MetadataValue).ListOf(3)
            select MakeVariable(type, value, meta)));

    private static object MakeVariable(int type, object value, IEnumerable<(string, object?)> meta)
    {
        Variable v = type switch
        {
            0 => new Param(value),
            1 => new BatchStat(value),
            2 => new RngKey(value),
            3 => new Variable(value),
            4 => new StLoraParam(value),
            5 => new StCounter().WithValue(value),
            _ => new OptState(value),
        };
        foreach (var (k, m) in meta)
            v = v.WithMetadata(k, m);
        return v;
    }

    /// <summary>A tree of depth at most <paramref name="depth"/>.</summary>
    public static Gen<StTree> Tree(int depth, int width) =>
        Gen.Zip(Key, depth == 0
                ? Leaf
                : Gen.Frequency((3, Leaf), (1, Gen.Sized(s => Tree(depth - 1, Math.Min(width, 1 + s / 10))).Select(t => (object)t))))
            .ListOf(width)
            .Select(pairs =>
            {
                var d = new SortedDictionary<PathKey, object>();
                foreach (var (k, v) in pairs)
                    d[k] = v;
                return new StTree(d);
            });

    public static Arbitrary<StTree> Trees { get; } = Arb.From(Gen.Sized(s => Tree(3, Math.Min(6, 1 + s / 8))), t => t.Shrink());

    /// <summary>Small trees for the corruption property: few, small leaves.</summary>
    public static Arbitrary<StTree> SmallTrees { get; } = Arb.From(Tree(2, 3).Resize(3), t => t.Shrink());

    /// <summary>The state a foreign reader gets: Variables unwrapped, arrays as tensors, empty sub-states dropped.</summary>
    public static State Bare(State s) =>
        State.FromFlatState(s.Flatten().Select(p => (p.Path, BareValue(p.Leaf is Variable v ? v.Value : p.Leaf))));

    private static object? BareValue(object? value) => value switch
    {
        RawTensor raw when RawOnlyDtypes.Contains(raw.Dtype) => raw,
        Array a => MakeTensor(Flat(a), Enumerable.Range(0, a.Rank).Select(d => a.GetLongLength(d)).ToArray()),
        _ => value,
    };

    private static Array Flat(Array a)
    {
        var flat = Array.CreateInstance(a.GetType().GetElementType()!, a.Length);
        var i = 0;
        foreach (var x in a)
            flat.SetValue(x, i++);
        return flat;
    }

    public static Config Config(int maxTest) => FsCheck.Config.QuickThrowOnFailure.WithMaxTest(maxTest);

    public static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>A safetensors file from a header text and data bytes, padded as the reference pads.</summary>
    public static byte[] File(string headerJson, byte[]? data = null, bool pad = true)
    {
        var header = Utf8(headerJson).ToList();
        while (pad && header.Count % 8 != 0)
            header.Add((byte)' ');
        return FileRaw(header.ToArray(), data);
    }

    public static byte[] FileRaw(byte[] header, byte[]? data = null, ulong? declaredLength = null)
    {
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes(declaredLength ?? (ulong)header.Length));
        bytes.AddRange(header);
        bytes.AddRange(data ?? []);
        return bytes.ToArray();
    }
}
