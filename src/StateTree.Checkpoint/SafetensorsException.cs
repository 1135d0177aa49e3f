namespace StateTree.Checkpoint;

/// <summary>Why a safetensors file, or a sharded checkpoint's index, was refused.</summary>
/// <remarks>
/// The names follow the reference implementation's <c>SafeTensorError</c> (huggingface/safetensors), so a
/// file this library refuses is one the reference refuses for the same reason, with the same name.
/// </remarks>
public enum SafetensorsError
{
    /// <summary>The file is shorter than the 8 bytes of the header length.</summary>
    HeaderTooSmall,

    /// <summary>The header length is above 100,000,000 bytes (the reference's limit).</summary>
    HeaderTooLarge,

    /// <summary>The header length points past the end of the file.</summary>
    InvalidHeaderLength,

    /// <summary>The header is not valid UTF-8.</summary>
    InvalidHeader,

    /// <summary>The header does not begin with <c>{</c>.</summary>
    InvalidHeaderStart,

    /// <summary>
    /// The header is not the JSON the format requires: bad JSON, a missing or mistyped field, a
    /// <c>__metadata__</c> that is not a map of strings, or a StateTree structure record that does not fit the file.
    /// </summary>
    InvalidHeaderDeserialization,

    /// <summary>A tensor's data offsets do not continue where the previous tensor ends (gap, overlap, or end before begin).</summary>
    InvalidOffset,

    /// <summary>A tensor's byte length differs from its element count times its dtype's width, or its shape overflows.</summary>
    TensorInvalidInfo,

    /// <summary>The tensors do not cover the data buffer exactly: bytes are missing or left over at the end.</summary>
    MetadataIncompleteBuffer,

    /// <summary>Two tensors have the same name, or two names address the same path of the state (or one is inside the other).</summary>
    DuplicateName,

    /// <summary>A tensor's dtype is not one of the safetensors dtypes.</summary>
    UnsupportedDtype,

    /// <summary>
    /// A sharded checkpoint's index is malformed, names a shard outside its folder, or disagrees with its shards
    /// (a listed tensor missing from its shard, or a shard holding a tensor the index does not list).
    /// </summary>
    InvalidIndex,
}

/// <summary>A safetensors file or index was refused; <see cref="Reason"/> says why, the message names the tensor.</summary>
public sealed class SafetensorsException : Exception
{
    /// <summary>A refusal.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="message">A message naming the tensor or field at fault.</param>
    /// <param name="tensorName">The tensor at fault, when there is one.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public SafetensorsException(SafetensorsError reason, string message, string? tensorName = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
        TensorName = tensorName;
    }

    /// <summary>Why the input was refused.</summary>
    public SafetensorsError Reason { get; }

    /// <summary>The name of the tensor at fault, or null when the fault is not one tensor's.</summary>
    public string? TensorName { get; }
}
