using System.Diagnostics.CodeAnalysis;
using System.Numerics.Tensors;

namespace StateTree.Checkpoint;

/// <summary>
/// Which leaf values the safetensors layer stores, and how: <see cref="Tensor{T}"/>, one-dimensional
/// <c>T[]</c>, multi-dimensional arrays (zero lower bounds), scalars (shape <c>[]</c>) and
/// <see cref="RawTensor"/>, for the element types <see cref="double"/>, <see cref="float"/>,
/// <see cref="Half"/>, <see cref="BFloat16"/>, <see cref="long"/>, <see cref="int"/>, <see cref="short"/>,
/// <see cref="sbyte"/>, <see cref="ulong"/>, <see cref="uint"/>, <see cref="ushort"/>, <see cref="byte"/>
/// and <see cref="bool"/>.
/// </summary>
internal static class TensorLeaf
{
    /// <summary>How a stored value is represented in .NET.</summary>
    internal enum Kind
    {
        /// <summary>A <see cref="Tensor{T}"/>.</summary>
        Tensor,
        /// <summary>A <c>T[]</c> or a multi-dimensional <c>T[,…]</c>.</summary>
        Array,
        /// <summary>A boxed scalar (shape <c>[]</c>).</summary>
        Scalar,
        /// <summary>A <see cref="RawTensor"/>.</summary>
        Raw,
    }

    /// <summary>
    /// True when <paramref name="value"/> (a raw leaf; a <see cref="Variable"/> is not unwrapped here) is a
    /// tensor-like value this layer can store; gives its safetensors dtype (<c>"F32"</c>, …) and shape
    /// (<c>[]</c> for scalars).
    /// </summary>
    public static bool TryDescribe(object? value, [NotNullWhen(true)] out string? dtype, [NotNullWhen(true)] out long[]? shape)
    {
        if (TryDescribe(value, out Dtype? d, out shape, out _))
        {
            dtype = d.Name;
            return true;
        }

        dtype = null;
        return false;
    }

    /// <summary>As <see cref="TryDescribe(object, out string, out long[])"/>, with the dtype entry and the representation.</summary>
    internal static bool TryDescribe(
        object? value,
        [NotNullWhen(true)] out Dtype? dtype,
        [NotNullWhen(true)] out long[]? shape,
        out Kind kind)
    {
        dtype = null;
        shape = null;
        kind = default;
        switch (value)
        {
            case null:
                return false;
            case RawTensor raw:
                dtype = Dtypes.Get(raw.Dtype);
                shape = (long[])raw.ShapeArray.Clone();
                kind = Kind.Raw;
                return true;
            case Array array:
            {
                var type = array.GetType();
                var element = type.GetElementType();
                if (element is null || !Dtypes.TryGet(element, out dtype))
                    return false;
                if (!type.IsSZArray)
                {
                    for (var i = 0; i < array.Rank; i++)
                    {
                        if (array.GetLowerBound(i) != 0)
                        {
                            dtype = null;
                            return false;
                        }
                    }
                }

                shape = new long[array.Rank];
                for (var i = 0; i < shape.Length; i++)
                    shape[i] = array.GetLongLength(i);
                kind = Kind.Array;
                return true;
            }
        }

        var t = value.GetType();
        if (t.IsPrimitive || t == typeof(Half) || t == typeof(BFloat16))
        {
            if (!Dtypes.TryGet(t, out dtype))
                return false;
            shape = [];
            kind = Kind.Scalar;
            return true;
        }

        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Tensor<>)
            && Dtypes.TryGet(t.GetGenericArguments()[0], out dtype))
        {
            var lengths = ((IReadOnlyTensor)value).Lengths;
            if (lengths.Length == 0)
            {
                // Tensor<T>.Empty has rank 0 and no element: no safetensors shape describes it.
                dtype = null;
                return false;
            }

            shape = new long[lengths.Length];
            for (var i = 0; i < shape.Length; i++)
                shape[i] = lengths[i];
            kind = Kind.Tensor;
            return true;
        }

        return false;
    }
}
