using LanguageExt;
using CoreError = StateTree.FSharp.StateError;

namespace StateTree;

/// <summary>
/// A core result with the F# types already taken off: the value, or every problem the core found.
/// It turns into the facade's two failure styles: one exception, or a <see cref="Validation{FAIL, SUCCESS}"/>.
/// </summary>
internal readonly struct CoreResult<T>
{
    private readonly T value;
    private readonly CoreError[]? errors;

    public CoreResult(T value)
    {
        this.value = value;
        errors = null;
    }

    public CoreResult(CoreError[] errors)
    {
        value = default!;
        this.errors = errors;
    }

    /// <summary>The value; on failure one <see cref="ArgumentException"/> whose message holds every problem, one per line.</summary>
    public T OrThrow(string? paramName) =>
        errors is null ? value : throw new ArgumentException(Message(errors), paramName);

    /// <summary>As <see cref="OrThrow(string?)"/>, with the parameter name picked from the first problem.</summary>
    public T OrThrow(Func<CoreError, string?> paramName) =>
        errors is null ? value : throw new ArgumentException(Message(errors), paramName(errors[0]));

    /// <summary>The mapped value, or every problem as a <see cref="StateError"/>.</summary>
    public Validation<StateError, TOut> ToValidation<TOut>(Func<T, TOut> map)
    {
        if (errors is null)
            return Validation<StateError, TOut>.Success(map(value));

        var converted = new StateError[errors.Length];
        for (var i = 0; i < errors.Length; i++)
            converted[i] = FSharpInterop.Error(errors[i]);
        return Validation<StateError, TOut>.Fail(Prelude.toSeq(converted));
    }

    private static string Message(CoreError[] errors) =>
        errors.Length == 1 ? errors[0].Message : string.Join("\n", errors.Select(e => e.Message));
}
