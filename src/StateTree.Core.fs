namespace StateTree

#nowarn "9" // Deep.guard reads the address of a local to know how deep the stack is.
#nowarn "51"

open System
open System.Collections
open System.Collections.Generic
open System.Collections.Immutable
open System.Globalization
open System.Runtime.CompilerServices
open System.Runtime.ExceptionServices
open System.Text
open System.Threading
open Microsoft.FSharp.NativeInterop

[<Struct; CustomEquality; CustomComparison>]
type PathKey =
    // A null name marks an index key, so default(PathKey) is the index 0.
    val private name: string | null
    val private index: int
    private new(name, index) = { name = name; index = index }

    member k.IsIndex = isNull k.name

    member k.Index =
        match k.name with
        | null -> k.index
        | n -> invalidOp $"The key '{n}' is a name, not an index."

    member k.Name =
        match k.name with
        | null -> invalidOp $"The key {k.index} is an index, not a name."
        | n -> n

    member k.CompareTo(other: PathKey) =
        match k.name, other.name with
        | null, null -> k.index.CompareTo other.index
        | null, _ -> -1
        | _, null -> 1
        | a, b -> String.CompareOrdinal(a, b)

    member k.Equals(other: PathKey) =
        match k.name, other.name with
        | null, null -> k.index = other.index
        | null, _
        | _, null -> false
        | a, b -> String.Equals(a, b)

    override k.Equals(other: obj | null) =
        match other with
        | :? PathKey as other -> k.Equals other
        | _ -> false

    override k.GetHashCode() =
        match k.name with
        | null -> k.index
        | n -> n.GetHashCode() ^^^ 0x5bd1e995

    override k.ToString() =
        match k.name with
        | null -> k.index.ToString(CultureInfo.InvariantCulture)
        | n -> n

    member k.ToLiteral() =
        match k.name with
        | null -> k.index.ToString(CultureInfo.InvariantCulture)
        | n -> "'" + n.Replace("\\", "\\\\").Replace("'", "\\'") + "'"

    static member FromIndex(index: int) = PathKey(null, index)

    static member FromName(name: string) =
        ArgumentNullException.ThrowIfNull(name, nameof name)
        PathKey(name, 0)

    static member op_Implicit(index: int) : PathKey = PathKey.FromIndex index
    static member op_Implicit(name: string) : PathKey = PathKey.FromName name
    static member op_Equality(a: PathKey, b: PathKey) = a.Equals b
    static member op_Inequality(a: PathKey, b: PathKey) = not (a.Equals b)

    interface IEquatable<PathKey> with
        member k.Equals other = k.Equals other

    interface IComparable<PathKey> with
        member k.CompareTo other = k.CompareTo other

    interface IComparable with
        member k.CompareTo(other: obj | null) =
            match other with
            | :? PathKey as o -> k.CompareTo o
            | null -> 1
            | _ -> invalidArg (nameof other) "Expected a PathKey."

// A path is its parent plus one key: appending is O(1) and the paths of siblings share their
// parent, which keeps Flatten at one small allocation per leaf. The hash is computed on first use
// (Flatten creates a path per leaf that most callers never hash).
[<Sealed>]
type KeyPath private (parent: KeyPath | null, key: PathKey, count: int) =
    static let empty = KeyPath(null, PathKey(), 0)
    // 0 means "not computed yet"; a computed 0 is stored as 1. One int write, so races are benign.
    let mutable hash = 0

    member internal _.ParentOrNull = parent
    member internal _.LastKey = key
    member internal _.CachedHash = hash
    member internal _.SetHash h = hash <- (if h = 0 then 1 else h)

    static member Empty = empty

    static member Of([<ParamArray>] keys: PathKey array) =
        ArgumentNullException.ThrowIfNull(keys, nameof keys)
        let mutable p = empty

        for k in keys do
            p <- p.Append k

        p

    static member OfSeq(keys: PathKey seq) =
        ArgumentNullException.ThrowIfNull(keys, nameof keys)
        let mutable p = empty

        for k in keys do
            p <- p.Append k

        p

    member this.Append(key: PathKey) = KeyPath(this, key, count + 1)

    member _.Count = count

    member this.Item
        with get (index: int) =
            if index < 0 || index >= count then
                raise (ArgumentOutOfRangeException(nameof index))

            let mutable p = this

            for _ in 1 .. count - 1 - index do
                p <- nonNull p.ParentOrNull

            p.LastKey

    member _.Last =
        if count = 0 then
            invalidOp "The empty path has no last key."

        key

    member this.Parent =
        match parent with
        | null -> this
        | p -> p

    member this.ToArray() =
        let a = Array.zeroCreate count
        let mutable p = this

        for i in count - 1 .. -1 .. 0 do
            a.[i] <- p.LastKey
            p <- nonNull p.ParentOrNull

        a

    /// The ancestor with the given number of keys.
    member internal this.Prefix(length: int) =
        let mutable p = this

        for _ in 1 .. count - length do
            p <- nonNull p.ParentOrNull

        p

    member this.StartsWith(prefix: KeyPath) =
        ArgumentNullException.ThrowIfNull(prefix, nameof prefix)
        prefix.Count <= count && prefix.Equals(this.Prefix prefix.Count)

    member this.CompareTo(other: KeyPath | null) =
        match other with
        | null -> 1
        | other ->
            let n = min count other.Count
            let mutable a = this.Prefix n
            let mutable b = other.Prefix n
            // Walk both up in lockstep; the last difference seen is the one nearest the root.
            let mutable c = 0

            while not (obj.ReferenceEquals(a, b)) && a.Count > 0 do
                let d = a.LastKey.CompareTo b.LastKey

                if d <> 0 then
                    c <- d

                a <- nonNull a.ParentOrNull
                b <- nonNull b.ParentOrNull

            if c <> 0 then c else count.CompareTo other.Count

    member this.Equals(other: KeyPath | null) =
        match other with
        | null -> false
        | other ->
            if obj.ReferenceEquals(this, other) then
                true
            elif
                count <> other.Count
                || (hash <> 0 && other.CachedHash <> 0 && hash <> other.CachedHash)
            then
                false
            else
                let mutable a = this
                let mutable b = other
                let mutable same = true

                while same && not (obj.ReferenceEquals(a, b)) && a.Count > 0 do
                    same <- a.LastKey.Equals b.LastKey
                    a <- nonNull a.ParentOrNull
                    b <- nonNull b.ParentOrNull

                same

    override this.Equals(other: obj | null) =
        match other with
        | :? KeyPath as p -> this.Equals p
        | _ -> false

    override this.GetHashCode() =
        if hash = 0 then
            // Hash the ancestors that are not hashed yet, from the root down, without recursion.
            let pending = Stack<KeyPath>()
            let mutable p = this

            while p.Count > 0 && p.CachedHash = 0 do
                pending.Push p
                p <- nonNull p.ParentOrNull

            let mutable h = if p.Count = 0 then 17 else p.CachedHash

            while pending.Count > 0 do
                let q = pending.Pop()
                h <- h * 31 + q.LastKey.GetHashCode()
                q.SetHash h
                h <- q.CachedHash

        if count = 0 then 17 else hash

    override this.ToString() =
        let keys = this.ToArray()
        String.Join("/", keys |> Array.map (fun k -> k.ToString()))

    member this.ToTupleString() =
        let keys = this.ToArray()

        match keys.Length with
        | 0 -> "()"
        | 1 -> "(" + keys.[0].ToLiteral() + ",)"
        | _ -> "(" + String.Join(", ", keys |> Array.map (fun k -> k.ToLiteral())) + ")"

    static member op_Equality(a: KeyPath | null, b: KeyPath | null) =
        match a with
        | null -> isNull b
        | a -> a.Equals b

    static member op_Inequality(a: KeyPath | null, b: KeyPath | null) = not (KeyPath.op_Equality (a, b))

    interface IReadOnlyList<PathKey> with
        member this.Count = count

        member this.Item
            with get i = this.Item i

        member this.GetEnumerator() : IEnumerator<PathKey> =
            (this.ToArray() :> IEnumerable<PathKey>).GetEnumerator()

        member this.GetEnumerator() : IEnumerator =
            (this.ToArray() :> IEnumerable).GetEnumerator()

    interface IEquatable<KeyPath> with
        member this.Equals other = this.Equals other

    interface IComparable<KeyPath> with
        member this.CompareTo other = this.CompareTo other

    interface IComparable with
        member this.CompareTo(other: obj | null) =
            match other with
            | :? KeyPath as p -> this.CompareTo p
            | null -> 1
            | _ -> invalidArg (nameof other) "Expected a KeyPath."

type MergeConflict =
    | LastWins = 0
    | Error = 1

/// Per thread: the lowest stack address at which the runtime found room to recurse (0 until then).
type internal StackMark =
    [<ThreadStatic; DefaultValue>]
    static val mutable private low: nativeint

    static member Low
        with get () = StackMark.low
        and set (v: nativeint) = StackMark.low <- v

module internal Arrays =
    /// A copy of a. Array.copy clones through Object.MemberwiseClone, which for a 32-entry array of
    /// references took about twice as long as a new array and a block copy in a stopwatch probe (85
    /// against 45 ns); an update copies one such array per level of the tree.
    let copy (a: 'T array) : 'T array = a.AsSpan().ToArray()

/// Runs deep recursions without overflowing the stack: when the current stack runs low, the rest
/// of the work continues on a fresh thread (the technique compilers use for deep syntax trees).
module internal Deep =
    let private hopStackBytes = 64 * 1024 * 1024

    let hop (f: unit -> 'T) : 'T =
        let result = ref Unchecked.defaultof<'T>
        let error: ExceptionDispatchInfo option ref = ref None

        let worker =
            Thread(
                (fun () ->
                    try
                        result.Value <- f ()
                    with e ->
                        error.Value <- Some(ExceptionDispatchInfo.Capture e)),
                hopStackBytes
            )

        worker.Start()
        worker.Join()

        match error.Value with
        | Some e ->
            e.Throw()
            Unchecked.defaultof<'T>
        | None -> result.Value

    /// Whether the stack at this call leaves room for more recursion. The runtime's check costs a
    /// thread lookup, and recursive walks make one per node: so the lowest stack address it has
    /// approved (less a margin) is kept per thread, and a call above it needs only a comparison.
    let inline roomAt (here: nativeint) =
        let low = StackMark.Low

        if low <> 0n && here > low then
            true
        elif RuntimeHelpers.TryEnsureSufficientExecutionStack() then
            // The runtime approves when at least 128 KB remain (64 KB on 32-bit platforms); the
            // margin leaves at least 48 KB to whatever runs above the mark.
            StackMark.Low <- here - 16n * 1024n
            true
        else
            false

    let inline guard ([<InlineIfLambda>] f: unit -> 'T) : 'T =
        let mutable probe = 0uy

        if roomAt (NativePtr.toNativeInt &&probe) then
            f ()
        else
            hop f

/// Leaf equality, hashing and printing: arrays and tensors by element, everything else by Equals.
module internal Leaf =
    open System.Numerics.Tensors

    let private elementNames =
        dict
            [ typeof<float>, ("float64", 8)
              typeof<float32>, ("float32", 4)
              typeof<Half>, ("float16", 2)
              typeof<int64>, ("int64", 8)
              typeof<int>, ("int32", 4)
              typeof<int16>, ("int16", 2)
              typeof<sbyte>, ("int8", 1)
              typeof<uint64>, ("uint64", 8)
              typeof<uint32>, ("uint32", 4)
              typeof<uint16>, ("uint16", 2)
              typeof<byte>, ("uint8", 1)
              typeof<bool>, ("bool", 1)
              typeof<Numerics.Complex>, ("complex128", 16) ]

    /// The dtype-style name of an element type and its size in bytes (0 when unknown).
    let rec elementName (t: Type) : string * int =
        match elementNames.TryGetValue t with
        | true, v -> v
        | _ ->
            match t.GetElementType() with
            | null -> t.Name, 0
            | inner -> fst (elementName inner) + "[]", 0

    let private tensorElementType (t: IReadOnlyTensor) =
        t.GetType().GetInterfaces()
        |> Array.tryPick (fun i ->
            if i.IsGenericType && i.GetGenericTypeDefinition() = typedefof<IEnumerable<_>> then
                Some(i.GetGenericArguments().[0])
            else
                None)
        |> Option.defaultValue typeof<obj>

    /// Element type, shape and element count of an array or tensor leaf.
    let shapeOf (v: obj | null) : (Type * int64 array * int64) option =
        match v with
        | :? Array as a ->
            let shape = Array.init a.Rank (fun d -> int64 (a.GetLength d))
            Some(nonNull (a.GetType().GetElementType()), shape, a.LongLength)
        | :? IReadOnlyTensor as t ->
            let lengths = t.Lengths
            let shape = Array.zeroCreate lengths.Length

            for d in 0 .. lengths.Length - 1 do
                shape.[d] <- int64 lengths.[d]

            Some(tensorElementType t, shape, int64 t.FlattenedLength)
        | _ -> None

    let shapeText (v: obj | null) =
        match shapeOf v with
        | Some(t, shape, _) ->
            let name, _ = elementName t
            name + "[" + String.Join(",", shape) + "]"
        | None -> ""

    let private items (x: obj) : IEnumerable =
        match x with
        | :? IEnumerable as e -> e
        | _ -> Array.Empty<obj>()

    let rec equals (a: obj | null) (b: obj | null) : bool =
        if obj.ReferenceEquals(a, b) then
            true
        else
            match a, b with
            | null, _
            | _, null -> false
            // Cheap class tests first: most values are boxed numbers, and the interface test for
            // tensors is the slowest of these checks.
            | (:? ValueType as x), _ -> x.Equals b
            | (:? string as x), _ -> x.Equals b
            | (:? Array as x), (:? Array as y) -> arrayEquals x y
            | (:? IReadOnlyTensor as x), (:? IReadOnlyTensor as y) ->
                obj.ReferenceEquals(x.GetType(), y.GetType())
                && x.Lengths.SequenceEqual(y.Lengths)
                && sequenceEquals (items x) (items y)
            | a, b -> a.Equals b

    and private sequenceEquals (x: IEnumerable) (y: IEnumerable) =
        let ex = x.GetEnumerator()
        let ey = y.GetEnumerator()
        let mutable same = true

        while same && ex.MoveNext() do
            same <- ey.MoveNext() && equals ex.Current ey.Current

        same && not (ey.MoveNext())

    and private arrayEquals (x: Array) (y: Array) =
        if not (obj.ReferenceEquals(x.GetType(), y.GetType())) || x.Rank <> y.Rank then
            false
        elif Seq.exists (fun d -> x.GetLength d <> y.GetLength d) (seq { 0 .. x.Rank - 1 }) then
            false
        else
            match x, y with
            | (:? (float array) as p), (:? (float array) as q) ->
                MemoryExtensions.SequenceEqual(ReadOnlySpan p, ReadOnlySpan q)
            | (:? (float32 array) as p), (:? (float32 array) as q) ->
                MemoryExtensions.SequenceEqual(ReadOnlySpan p, ReadOnlySpan q)
            | (:? (int array) as p), (:? (int array) as q) ->
                MemoryExtensions.SequenceEqual(ReadOnlySpan p, ReadOnlySpan q)
            | (:? (int64 array) as p), (:? (int64 array) as q) ->
                MemoryExtensions.SequenceEqual(ReadOnlySpan p, ReadOnlySpan q)
            | (:? (byte array) as p), (:? (byte array) as q) ->
                MemoryExtensions.SequenceEqual(ReadOnlySpan p, ReadOnlySpan q)
            | _ -> sequenceEquals x y

    let rec hash (v: obj | null) : int =
        match v with
        | null -> 0
        | :? ValueType as x -> x.GetHashCode()
        | :? string as x -> x.GetHashCode()
        | :? Array as a ->
            // Length plus the first elements: consistent with element-wise equality and O(1).
            let mutable h = a.Length
            let mutable i = 0
            let e = a.GetEnumerator()

            while i < 8 && e.MoveNext() do
                h <- h * 31 + hash e.Current
                i <- i + 1

            h
        | :? IReadOnlyTensor as t ->
            let mutable h = int t.FlattenedLength
            let mutable i = 0
            let e = (items t).GetEnumerator()

            while i < 8 && e.MoveNext() do
                h <- h * 31 + hash e.Current
                i <- i + 1

            h
        | v -> v.GetHashCode()

    let quote (s: string) =
        "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'"

    /// A value as Flax prints it: strings quoted, null, true/false, invariant numbers, arrays by shape.
    let literal (v: obj | null) : string =
        match v with
        | null -> "null"
        | :? string as s -> quote s
        | :? bool as b -> if b then "true" else "false"
        | :? char as c -> quote (string c)
        | :? Array
        | :? IReadOnlyTensor -> shapeText v
        | :? IFormattable as f -> f.ToString(null, CultureInfo.InvariantCulture)
        | v ->
            match v.ToString() with
            | null -> v.GetType().Name
            | s -> s

    /// Flax's size comment for array and tensor values: `# 6 (24 B)`.
    let sizeComment (v: obj | null) =
        match shapeOf v with
        | None -> ""
        | Some(t, _, count) ->
            let _, size = elementName t
            let n = count.ToString("N0", CultureInfo.InvariantCulture)

            if size = 0 then
                $" # {n}"
            else
                let bytes = float count * float size

                let human =
                    if bytes < 1000.0 then
                        $"{bytes:F0} B"
                    elif bytes < 1e6 then
                        (bytes / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " KB"
                    elif bytes < 1e9 then
                        (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " MB"
                    else
                        (bytes / 1e9).ToString("F1", CultureInfo.InvariantCulture) + " GB"

                $" # {n} ({human})"

/// The metadata of a variable that has none: one shared instance (Create with a comparer makes a new one).
module private VariableMetadata =
    let none =
        ImmutableSortedDictionary.Create<string, obj | null>(StringComparer.Ordinal)

type Variable =
    // Mutable only so that WithValue/WithMetadata can set them on a fresh copy (see Copy). Never
    // mutated after that.
    val mutable private value: obj | null
    val mutable private metadata: ImmutableSortedDictionary<string, obj | null>

    new(value: obj | null) =
        { value = value
          metadata = VariableMetadata.none }

    new(value: obj | null, metadata: IReadOnlyDictionary<string, obj | null>) =
        ArgumentNullException.ThrowIfNull(metadata, nameof metadata)

        { value = value
          metadata = VariableMetadata.none.AddRange metadata }

    member v.Value = v.value
    member v.Metadata = v.metadata :> IReadOnlyDictionary<string, obj | null>

    member v.Tag: string | null =
        match v.metadata.TryGetValue "tag" with
        | true, (:? string as s) -> s
        | _ -> null

    /// A variable of this one's runtime type holding value and metadata. MemberwiseClone keeps the
    /// type and fields of a user's subclass with no code on its side, but it is a runtime call
    /// (about 50 ns against 17 for a constructor, measured on this kind of machine); the library's own
    /// types, which hold nothing else, are constructed instead (Map, Zip and ReplaceByPureDict make
    /// one copy per leaf).
    member private v.Copy(value: obj | null, metadata: ImmutableSortedDictionary<string, obj | null>) : Variable =
        let t = v.GetType()

        let copy: Variable =
            if obj.ReferenceEquals(t, typeof<Param>) then
                Param(value)
            elif obj.ReferenceEquals(t, typeof<BatchStat>) then
                BatchStat(value)
            elif obj.ReferenceEquals(t, typeof<Variable>) then
                Variable(value)
            elif obj.ReferenceEquals(t, typeof<RngCount>) then
                RngCount(value)
            elif obj.ReferenceEquals(t, typeof<RngKey>) then
                RngKey(value)
            elif obj.ReferenceEquals(t, typeof<RngState>) then
                RngState(value)
            elif obj.ReferenceEquals(t, typeof<OptState>) then
                OptState(value)
            elif obj.ReferenceEquals(t, typeof<Cache>) then
                Cache(value)
            elif obj.ReferenceEquals(t, typeof<Intermediate>) then
                Intermediate(value)
            elif obj.ReferenceEquals(t, typeof<Perturbation>) then
                Perturbation(value)
            else
                let c = v.MemberwiseClone() :?> Variable
                c.value <- value
                c

        copy.metadata <- metadata
        copy

    member v.WithValue(value: obj | null) : Variable = v.Copy(value, v.metadata)

    member v.WithMetadata(key: string, value: obj | null) : Variable =
        ArgumentNullException.ThrowIfNull(key, nameof key)
        v.Copy(v.value, v.metadata.SetItem(key, value))

    member private v.MetadataEquals(w: Variable) =
        // Enumerating an immutable dictionary rents a pooled stack: skip it when there is nothing.
        v.metadata.Count = w.metadata.Count
        && (v.metadata.Count = 0
            || Seq.forall2
                (fun (a: KeyValuePair<string, obj | null>) (b: KeyValuePair<string, obj | null>) ->
                    a.Key = b.Key && Leaf.equals a.Value b.Value)
                v.metadata
                w.metadata)

    override v.Equals(other: obj | null) =
        match other with
        | :? Variable as w ->
            obj.ReferenceEquals(v, w)
            || (obj.ReferenceEquals(v.GetType(), w.GetType())
                && Leaf.equals v.value w.value
                && v.MetadataEquals w)
        | _ -> false

    override v.GetHashCode() =
        let mutable h = v.GetType().GetHashCode() * 31 + Leaf.hash v.value

        if v.metadata.Count > 0 then
            for kv in v.metadata do
                h <- h * 31 + kv.Key.GetHashCode() + Leaf.hash kv.Value

        h

    override v.ToString() =
        let parts =
            seq {
                "value=" + Leaf.literal v.value

                for kv in v.metadata do
                    kv.Key + "=" + Leaf.literal kv.Value
            }

        v.GetType().Name + "(" + String.Join(", ", parts) + ")"

and Param =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

and BatchStat =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

and Cache =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

and Intermediate =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

and Perturbation =
    inherit Intermediate
    new(value: obj | null) = { inherit Intermediate(value) }
    new(value: obj | null, metadata) = { inherit Intermediate(value, metadata) }

and RngState =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

and RngKey =
    inherit RngState
    new(value: obj | null) = { inherit RngState(value) }
    new(value: obj | null, metadata) = { inherit RngState(value, metadata) }

and RngCount =
    inherit RngState
    new(value: obj | null) = { inherit RngState(value) }
    new(value: obj | null, metadata) = { inherit RngState(value, metadata) }

and OptState =
    inherit Variable
    new(value: obj | null) = { inherit Variable(value) }
    new(value: obj | null, metadata) = { inherit Variable(value, metadata) }

namespace StateTree.FSharp

open System
open System.Collections
open System.Collections.Generic
open System.Globalization
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Text
open System.Text.Json
open System.Text.Json.Nodes
open System.Text.RegularExpressions
open StateTree

[<CustomEquality; NoComparison>]
type Filter =
    | OfType of Type
    | WithTag of string
    | PathContains of key: PathKey * exact: bool
    | PathIn of Set<KeyPath>
    | PathMatches of pattern: string * regex: Regex
    | PathStartsWith of KeyPath
    | Any of Filter list
    | All of Filter list
    | Not of Filter
    | Everything
    | Nothing
    | Where of Func<KeyPath, obj | null, bool>

    static member private Same(a: Filter, b: Filter) : bool =
        match a, b with
        | OfType x, OfType y -> x = y
        | WithTag x, WithTag y -> String.Equals(x, y)
        | PathContains(k, e), PathContains(l, f) -> k.Equals l && e = f
        | PathIn x, PathIn y -> x = y
        | PathMatches(p, _), PathMatches(q, _) -> String.Equals(p, q)
        | PathStartsWith p, PathStartsWith q -> p.Equals q
        | Any xs, Any ys
        | All xs, All ys -> xs.Length = ys.Length && List.forall2 (fun x y -> Filter.Same(x, y)) xs ys
        | Not x, Not y -> Filter.Same(x, y)
        | Everything, Everything
        | Nothing, Nothing -> true
        | Where f, Where g -> obj.ReferenceEquals(f, g)
        | _ -> false

    override f.Equals(other: obj | null) =
        match other with
        | :? Filter as g -> Filter.Same(f, g)
        | _ -> false

    override f.GetHashCode() =
        match f with
        | OfType t -> 1 + 31 * t.GetHashCode()
        | WithTag s -> 2 + 31 * s.GetHashCode()
        | PathContains(k, e) -> 3 + 31 * k.GetHashCode() + (if e then 7 else 0)
        | PathIn s -> 4 + 31 * (s |> Seq.fold (fun h p -> h + p.GetHashCode()) 0)
        | PathMatches(p, _) -> 5 + 31 * p.GetHashCode()
        | PathStartsWith p -> 6 + 31 * p.GetHashCode()
        | Any xs -> 7 + 31 * (xs |> List.fold (fun h x -> h * 31 + x.GetHashCode()) 0)
        | All xs -> 8 + 31 * (xs |> List.fold (fun h x -> h * 31 + x.GetHashCode()) 0)
        | Not x -> 9 + 31 * x.GetHashCode()
        | Everything -> 10
        | Nothing -> 11
        | Where d -> 12 + 31 * Runtime.CompilerServices.RuntimeHelpers.GetHashCode d

    override f.ToString() =
        let list (xs: Filter list) =
            String.Join(", ", xs |> List.map string)

        match f with
        | OfType t -> $"OfType({t.Name})"
        | WithTag s -> $"WithTag({Leaf.quote s})"
        | PathContains(k, e) -> $"""PathContains({k.ToLiteral()}, exact={(if e then "True" else "False")})"""
        | PathIn s -> "PathIn(" + String.Join(", ", s |> Seq.map (fun p -> p.ToTupleString())) + ")"
        | PathMatches(p, _) -> $"PathMatches({Leaf.quote p})"
        | PathStartsWith p -> $"PathStartsWith({p.ToTupleString()})"
        | Any xs -> $"Any({list xs})"
        | All xs -> $"All({list xs})"
        | Not x -> "Not(" + string x + ")"
        | Everything -> "Everything()"
        | Nothing -> "Nothing()"
        | Where d -> $"Where({d.Method.Name})"

    interface IEquatable<Filter> with
        member f.Equals g =
            match g with
            | null -> false
            | g -> Filter.Same(f, g)

/// A filter's verdict on a whole sub-tree, from its path alone.
[<Struct>]
type internal Verdict =
    | Yes
    | No
    | Maybe

[<RequireQualifiedAccess>]
module Filter =
    [<CompiledName("OfType")>]
    let ofType<'T> = OfType typeof<'T>

    [<CompiledName("OfTypeOf")>]
    let ofTypeOf (t: Type) =
        ArgumentNullException.ThrowIfNull(t, nameof t)
        OfType t

    [<CompiledName("WithTag")>]
    let withTag (tag: string) =
        ArgumentNullException.ThrowIfNull(tag, nameof tag)
        WithTag tag

    [<CompiledName("PathContains")>]
    let pathContains (key: PathKey) = PathContains(key, true)

    [<CompiledName("PathContainsText")>]
    let pathContainsText (key: PathKey) = PathContains(key, false)

    [<CompiledName("PathIn")>]
    let pathIn (paths: KeyPath seq) =
        ArgumentNullException.ThrowIfNull(paths, nameof paths)

        for p in paths do
            if isNull (box p) then
                nullArg (nameof paths)

        PathIn(Set.ofSeq paths)

    [<CompiledName("PathMatches")>]
    let pathMatches (pattern: string) =
        ArgumentNullException.ThrowIfNull(pattern, nameof pattern)
        // Anchored so the pattern must match the whole path text, as SPEC's full match requires.
        // \z, not $: $ would also match before a trailing newline.
        PathMatches(pattern, Regex(@"\A(?:" + pattern + @")\z", RegexOptions.CultureInvariant))

    [<CompiledName("PathStartsWith")>]
    let pathStartsWith (prefix: KeyPath) =
        ArgumentNullException.ThrowIfNull(prefix, nameof prefix)
        PathStartsWith prefix

    [<CompiledName("Any")>]
    let any (filters: Filter list) = Any filters

    [<CompiledName("All")>]
    let all (filters: Filter list) = All filters

    [<CompiledName("Not")>]
    let not (filter: Filter) = Not filter

    [<CompiledName("Where")>]
    let where (predicate: KeyPath -> obj | null -> bool) =
        Where(Func<KeyPath, obj | null, bool>(fun p l -> predicate p l))

    let private keyInPath (key: PathKey) (exact: bool) (path: KeyPath) =
        let text = key.ToString()
        let mutable p = path
        let mutable found = false

        while Operators.not found && p.Count > 0 do
            let k = p.LastKey

            found <-
                if exact then
                    k.Equals key
                else
                    k.ToString().Contains(text, StringComparison.Ordinal)

            p <- nonNull p.ParentOrNull

        found

    [<CompiledName("Matches")>]
    let rec matches (filter: Filter) (path: KeyPath) (leaf: obj | null) : bool =
        match filter with
        | OfType t -> Operators.not (isNull leaf) && t.IsInstanceOfType leaf
        | WithTag tag ->
            match leaf with
            | :? Variable as v -> String.Equals(v.Tag, tag)
            | _ -> false
        | PathContains(key, exact) -> keyInPath key exact path
        | PathIn paths -> paths.Contains path
        | PathMatches(_, regex) -> regex.IsMatch(path.ToString())
        | PathStartsWith prefix -> path.StartsWith prefix
        | Any filters -> List.exists (fun f -> matches f path leaf) filters
        | All filters -> List.forall (fun f -> matches f path leaf) filters
        | Not f -> Operators.not (matches f path leaf)
        | Everything -> true
        | Nothing -> false
        | Where predicate -> predicate.Invoke(path, leaf)

    /// Remembers, per runtime type of the leaves seen, whether it is an instance of t: a type test
    /// through reflection costs far more than a reference comparison, and states hold few leaf types.
    type private TypeTest(t: Type) =
        let seen = Array.zeroCreate<Type> 8
        let answers = Array.zeroCreate<bool> 8
        let mutable count = 0

        member _.Test(leaf: obj | null) =
            match leaf with
            | null -> false
            // The leaf's own type: the common case, answered without a search.
            | leaf when obj.ReferenceEquals(leaf.GetType(), t) -> true
            | leaf ->
                let lt = leaf.GetType()
                let mutable i = 0
                let mutable found = -1

                while found < 0 && i < count do
                    if obj.ReferenceEquals(seen.[i], lt) then
                        found <- i

                    i <- i + 1

                if found >= 0 then
                    answers.[found]
                else
                    let answer = t.IsAssignableFrom lt

                    if count < seen.Length then
                        seen.[count] <- lt
                        answers.[count] <- answer
                        count <- count + 1

                    answer

    let private always = Func<KeyPath, obj | null, bool>(fun _ _ -> true)
    let private never = Func<KeyPath, obj | null, bool>(fun _ _ -> false)

    /// The filter as a predicate for one operation (it keeps per-call caches, so it is not shared
    /// between threads). Same answers as matches. A delegate rather than an F# function: a walk calls
    /// it once per leaf, and a curried call tests the closure's type first.
    let rec internal compile (filter: Filter) : Func<KeyPath, obj | null, bool> =
        match filter with
        | OfType t ->
            let test = TypeTest t
            Func<_, _, _>(fun _ leaf -> test.Test leaf)
        | Any filters ->
            let compiled = filters |> List.map compile |> Array.ofList
            Func<_, _, _>(fun path leaf -> compiled |> Array.exists (fun f -> f.Invoke(path, leaf)))
        | All filters ->
            let compiled = filters |> List.map compile |> Array.ofList
            Func<_, _, _>(fun path leaf -> compiled |> Array.forall (fun f -> f.Invoke(path, leaf)))
        | Not f ->
            let c = compile f
            Func<_, _, _>(fun path leaf -> Operators.not (c.Invoke(path, leaf)))
        | Everything -> always
        | Nothing -> never
        | f -> Func<_, _, _>(fun path leaf -> matches f path leaf)

    /// True when matching may look at the path (otherwise callers can skip building it).
    let rec internal needsPath (filter: Filter) =
        match filter with
        | OfType _
        | WithTag _
        | Everything
        | Nothing -> false
        | PathContains _
        | PathIn _
        | PathMatches _
        | PathStartsWith _
        | Where _ -> true
        | Any fs
        | All fs -> List.exists needsPath fs
        | Not f -> needsPath f

    /// True when the filter may decide a whole sub-tree from its path.
    let rec internal decidesSubtrees (filter: Filter) =
        match filter with
        | Everything
        | Nothing
        | PathContains _
        | PathStartsWith _ -> true
        | Any fs
        | All fs -> List.exists decidesSubtrees fs
        | Not f -> decidesSubtrees f
        | _ -> false

    /// Whether every leaf below a node at this path matches (Yes), none does (No), or it depends.
    let rec internal verdict (filter: Filter) (nodePath: KeyPath) : Verdict =
        match filter with
        | Everything -> Yes
        | Nothing -> No
        | PathStartsWith prefix ->
            if nodePath.StartsWith prefix then Yes
            elif prefix.StartsWith nodePath then Maybe
            else No
        | PathContains(key, exact) -> if keyInPath key exact nodePath then Yes else Maybe
        | Not f ->
            match verdict f nodePath with
            | Yes -> No
            | No -> Yes
            | Maybe -> Maybe
        | Any fs ->
            let vs = fs |> List.map (fun f -> verdict f nodePath)

            if List.contains Yes vs then Yes
            elif List.forall ((=) No) vs then No
            else Maybe
        | All fs ->
            let vs = fs |> List.map (fun f -> verdict f nodePath)

            if List.contains No vs then No
            elif List.forall ((=) Yes) vs then Yes
            else Maybe
        | _ -> Maybe

/// The children of a large node: a persistent B+tree (leaf chunks hold entries, branch chunks hold the
/// first key of each child), so updating one child of a node with a million children copies O(log k)
/// small arrays instead of the whole node.
[<Sealed; AllowNullLiteral>]
type internal Chunk(keys: PathKey array, values: (obj | null) array, children: Chunk array, count: int) =
    member _.Keys = keys
    member _.Values = values
    member _.Children = children
    member _.Count = count
    member _.IsLeaf = children.Length = 0

module internal Chunk =
    /// Maximum entries of a leaf chunk and children of a branch.
    [<Literal>]
    let Fanout = 32

    /// The largest node kept flat (sorted arrays): copying 64 entries on an update is still cheap, and
    /// common layer lists (64 experts, 64 heads) then stay plain arrays that bulk operations walk directly.
    [<Literal>]
    let FlatMax = 64

    /// Binary search: the index of key, or the bitwise complement of its insertion point.
    let search (keys: PathKey array) (key: PathKey) =
        let mutable lo = 0
        let mutable hi = keys.Length - 1
        let mutable found = -1

        while found < 0 && lo <= hi do
            let mid = (lo + hi) >>> 1
            let c = keys.[mid].CompareTo key

            if c = 0 then found <- mid
            elif c < 0 then lo <- mid + 1
            else hi <- mid - 1

        if found >= 0 then found else ~~~lo

    let private childIndex (c: Chunk) (key: PathKey) =
        let i = search c.Keys key
        if i >= 0 then i else max 0 (~~~i - 1)

    let tryFind (root: Chunk) (key: PathKey) (value: outref<obj | null>) : bool =
        let mutable c = root

        while not c.IsLeaf do
            c <- c.Children.[childIndex c key]

        let i = search c.Keys key

        if i >= 0 then
            value <- c.Values.[i]
            true
        else
            value <- null
            false

    let private leaf (keys: PathKey array) (values: (obj | null) array) = Chunk(keys, values, [||], keys.Length)

    let private branch (children: Chunk array) =
        Chunk(children |> Array.map (fun c -> c.Keys.[0]), [||], children, children |> Array.sumBy (fun c -> c.Count))

    /// Groups items into runs of at most Fanout, of nearly equal sizes.
    let private runs (n: int) =
        let m = (n + Fanout - 1) / Fanout
        let bound i = int (int64 i * int64 n / int64 m)
        Array.init m (fun i -> struct (bound i, bound (i + 1)))

    /// The tree over leaf chunks in key order (at least one): levels of branches of nearly equal sizes.
    let ofLeafChunks (leaves: Chunk array) : Chunk =
        let mutable level = leaves

        while level.Length > 1 do
            let current = level

            level <-
                runs current.Length
                |> Array.map (fun (struct (s, e)) -> branch current.[s .. e - 1])

        level.[0]

    let ofSorted (keys: PathKey array) (values: (obj | null) array) : Chunk =
        runs keys.Length
        |> Array.map (fun (struct (s, e)) -> leaf keys.[s .. e - 1] values.[s .. e - 1])
        |> ofLeafChunks

    let rec copyTo (c: Chunk) (keys: PathKey array) (values: (obj | null) array) (offset: int) : int =
        if c.IsLeaf then
            Array.blit c.Keys 0 keys offset c.Keys.Length
            Array.blit c.Values 0 values offset c.Values.Length
            offset + c.Keys.Length
        else
            let mutable o = offset

            for child in c.Children do
                o <- copyTo child keys values o

            o

    let private insertAt (a: 'T array) (i: int) (x: 'T) =
        let r = Array.zeroCreate (a.Length + 1)
        Array.blit a 0 r 0 i
        r.[i] <- x
        Array.blit a i r (i + 1) (a.Length - i)
        r

    let private removeAt (a: 'T array) (i: int) =
        let r = Array.zeroCreate (a.Length - 1)
        Array.blit a 0 r 0 i
        Array.blit a (i + 1) r i (a.Length - i - 1)
        r

    let private replaceAt (a: 'T array) (i: int) (x: 'T) =
        let r = Arrays.copy a
        r.[i] <- x
        r

    /// Sets key to value; returns the new chunk and, when it overflowed, the right half split off.
    /// Whether key was there, and its value, are left in had and previous: one descent serves both.
    let rec set
        (c: Chunk)
        (key: PathKey)
        (value: obj | null)
        (had: outref<bool>)
        (previous: outref<obj | null>)
        : struct (Chunk * Chunk) =
        if c.IsLeaf then
            let i = search c.Keys key

            if i >= 0 then
                had <- true
                previous <- c.Values.[i]
                struct (Chunk(c.Keys, replaceAt c.Values i value, [||], c.Count), null)
            else
                had <- false
                previous <- null
                let keys = insertAt c.Keys (~~~i) key
                let values = insertAt c.Values (~~~i) value

                if keys.Length <= Fanout then
                    struct (leaf keys values, null)
                else
                    let h = keys.Length / 2
                    struct (leaf keys.[.. h - 1] values.[.. h - 1], leaf keys.[h..] values.[h..])
        else
            let j = childIndex c key
            let old = c.Children.[j]
            let struct (updated, extra) = set old key value &had &previous

            if isNull extra then
                // One child replaced: the first keys change only if its own first key did.
                let keys =
                    if updated.Keys.[0].Equals old.Keys.[0] then
                        c.Keys
                    else
                        replaceAt c.Keys j updated.Keys.[0]

                struct (Chunk(keys, [||], replaceAt c.Children j updated, c.Count - old.Count + updated.Count), null)
            else
                let children = insertAt (replaceAt c.Children j updated) (j + 1) extra

                if children.Length <= Fanout then
                    struct (branch children, null)
                else
                    let h = children.Length / 2
                    struct (branch children.[.. h - 1], branch children.[h..])

    /// The chunk without key (which must be present), or null when nothing is left.
    let rec remove (c: Chunk) (key: PathKey) : Chunk =
        if c.IsLeaf then
            let i = search c.Keys key

            if c.Keys.Length = 1 then
                null
            else
                leaf (removeAt c.Keys i) (removeAt c.Values i)
        else
            let j = childIndex c key

            match remove c.Children.[j] key with
            | null ->
                if c.Children.Length = 1 then
                    null
                else
                    branch (removeAt c.Children j)
            | updated -> branch (replaceAt c.Children j updated)

    /// Calls f on every leaf chunk in key order.
    let rec iterLeafChunks (c: Chunk) (f: Chunk -> unit) =
        if c.IsLeaf then
            f c
        else
            for child in c.Children do
                iterLeafChunks child f

    /// A root that has grown a sibling gets a new branch above both.
    let root (struct (c: Chunk, extra: Chunk)) =
        if isNull extra then c else branch [| c; extra |]

    /// Calls f on every entry in key order, without allocating.
    let rec iter (c: Chunk) (f: PathKey -> obj | null -> unit) =
        if c.IsLeaf then
            for i in 0 .. c.Keys.Length - 1 do
                f c.Keys.[i] c.Values.[i]
        else
            for child in c.Children do
                iter child f

/// The structure of a small sub-tree without its leaves: its keys and, per key, the shape of the
/// sub-state there or null for a leaf. A packed node (see State) keeps one shape and one array of
/// all its leaves in path order instead of a node object and a values array per sub-tree: a layer
/// of 32 leaves in 8 blocks is 2 objects instead of 18, which is what bulk operations on large
/// states pay for in allocation and garbage collection. Shapes are immutable and shared (Intern).
[<Sealed; AllowNullLiteral>]
type internal Shape private (keys: PathKey array, kids: Shape array, leafCount: int, depth: int) =
    // The keys' hash codes and, with sub-states, where each child's leaves start: made on first use,
    // since a shared shape stands for many nodes. Threads that race here store equal arrays.
    let mutable keyHashes: int array | null = null
    let mutable starts: int array | null = null

    // The last shapes made on this thread, by identity of their keys and kid shapes.
    [<ThreadStatic; DefaultValue>]
    static val mutable private recent: Shape array | null

    [<ThreadStatic; DefaultValue>]
    static val mutable private lastA: Shape

    [<ThreadStatic; DefaultValue>]
    static val mutable private lastB: Shape

    // Kid shapes of the node being packed, reused on this thread (see KidBuffer).
    [<ThreadStatic; DefaultValue>]
    static val mutable private kidBuffer: Shape array | null

    /// The largest sub-tree kept packed: an update copies its leaf array, so this bounds SetItem.
    static member MaxLeaves = 64

    /// The deepest shape kept packed: walks over shapes recurse without the stack guard.
    static member MaxDepth = 8

    member _.Keys = keys

    /// A buffer of Chunk.FlatMax kid shapes for the node being packed on this thread, to pass to
    /// Intern (which copies what it keeps).
    static member KidBuffer: Shape array =
        match Shape.kidBuffer with
        | null ->
            let k = Array.zeroCreate Chunk.FlatMax
            Shape.kidBuffer <- k
            k
        | k -> k

    /// keys.[i].GetHashCode() for each i.
    member _.KeyHashes: int array =
        match keyHashes with
        | null ->
            let h = keys |> Array.map (fun k -> k.GetHashCode())
            keyHashes <- h
            h
        | h -> h

    /// Levels of nodes: 1 for leaves only.
    member _.Depth = depth
    /// Per key, the sub-state's shape, or null for a leaf; empty for a shape of leaves only.
    member _.Kids = kids
    member _.LeafCount = leafCount
    /// Every child a leaf: the leaf array is then the node's values array.
    member _.IsFlat = kids.Length = 0

    /// The shape of child i (null: a leaf).
    member _.Kid(i: int) : Shape =
        if kids.Length = 0 then null else kids.[i]

    /// The number of leaves child i holds.
    member s.LeavesOf(i: int) =
        match s.Kid i with
        | null -> 1
        | k -> k.LeafCount

    /// The index in the leaf array of child i's first leaf.
    member s.StartOf(i: int) =
        if kids.Length = 0 then
            i
        else
            match starts with
            | null ->
                let a = Array.zeroCreate keys.Length

                for j in 1 .. keys.Length - 1 do
                    a.[j] <- a.[j - 1] + s.LeavesOf(j - 1)

                starts <- a
                a.[i]
            | a -> a.[i]

    /// The shape of keys and kids.[0 .. keys.Length - 1] (kids null for a node of leaves only): one
    /// made before on this thread for the same key array and kid shapes, else a new one. Equal
    /// shapes may still be distinct instances (built from different key arrays); Equals compares
    /// those structurally.
    static member Intern(keys: PathKey array, kids: Shape array | null, leafCount: int) : Shape =
        let table =
            match Shape.recent with
            | null ->
                let t = Array.zeroCreate 1024
                Shape.recent <- t
                t
            | t -> t

        let mutable h = RuntimeHelpers.GetHashCode keys

        match kids with
        | null -> ()
        | kids ->
            for i in 0 .. keys.Length - 1 do
                h <-
                    h * 31
                    + (match kids.[i] with
                       | null -> 7
                       | k -> RuntimeHelpers.GetHashCode k)

        let slot = (h &&& 0x7fffffff) % table.Length
        let found = table.[slot]

        let same =
            not (isNull found)
            && obj.ReferenceEquals(found.Keys, keys)
            && (match kids with
                | null -> found.IsFlat
                | kids ->
                    not found.IsFlat
                    && (let mutable i = 0

                        while i < keys.Length && obj.ReferenceEquals(found.Kids.[i], kids.[i]) do
                            i <- i + 1

                        i = keys.Length))

        if same then
            found
        else
            let made =
                match kids with
                | null -> Shape(keys, [||], leafCount, 1)
                | kids ->
                    let mutable depth = 1

                    for i in 0 .. keys.Length - 1 do
                        match kids.[i] with
                        | null -> ()
                        | k -> depth <- max depth (k.Depth + 1)

                    Shape(keys, Array.sub kids 0 keys.Length, leafCount, depth)

            table.[slot] <- made
            made

    /// The shape of the leaves whose bits are set in mask (bit j: the leaf at index j, counted from
    /// at), without the sub-states left with no leaf; null when no leaf is kept.
    static member Prune(shape: Shape, mask: uint64, at: byref<int>) : Shape =
        let n = shape.Keys.Length
        let keys = ResizeArray<PathKey>(n)
        let kids = ResizeArray<Shape>(n)
        let mutable anySub = false
        let mutable leaves = 0

        for i in 0 .. n - 1 do
            match shape.Kid i with
            | null ->
                if mask &&& (1UL <<< at) <> 0UL then
                    keys.Add shape.Keys.[i]
                    kids.Add null
                    leaves <- leaves + 1

                at <- at + 1
            | kid ->
                let p = Shape.Prune(kid, mask, &at)

                if not (isNull p) then
                    keys.Add shape.Keys.[i]
                    kids.Add p
                    anySub <- true
                    leaves <- leaves + p.LeafCount

        if keys.Count = 0 then
            null
        else
            Shape.Intern(keys.ToArray(), (if anySub then kids.ToArray() |> withNull else null), leaves)

    /// Structural equality (keys and kid shapes). Two states built apart have distinct but equal
    /// shapes, compared again for every node of theirs: the last equal pair is remembered.
    static member Same(a: Shape, b: Shape) : bool =
        obj.ReferenceEquals(a, b)
        || obj.ReferenceEquals(a, Shape.lastA) && obj.ReferenceEquals(b, Shape.lastB)
        || Shape.Compare(a, b)
           && (Shape.lastA <- a
               Shape.lastB <- b
               true)

    static member private Compare(a: Shape, b: Shape) : bool =
        a.LeafCount = b.LeafCount
        && a.Keys.Length = b.Keys.Length
        && a.IsFlat = b.IsFlat
        && (let mutable same = true
            let mutable i = 0

            while same && i < a.Keys.Length do
                same <-
                    a.Keys.[i].Equals b.Keys.[i]
                    && (match a.Kid i, b.Kid i with
                        | null, null -> true
                        | null, _
                        | _, null -> false
                        | x, y -> Shape.Compare(x, y))

                i <- i + 1

            same)

/// A node is stored one of three ways. Plain: children holds the values array of at most
/// Chunk.FlatMax children (sub-states and leaves), or the B+tree of a larger node; shape is null.
/// Flat: a plain node of leaves only that also knows its Shape, so a parent can pack it. Packed:
/// a small sub-tree (see Shape) whose children holds all its leaves in path order; its sub-states
/// exist only as views made when asked for (FlatValues, TryGet). Equality, hashing and every
/// operation give the same answers for all three.
// One field for a small node's values, a large node's tree or a packed node's leaves, and no
// stored count, keep a node at 48 bytes.
[<Sealed>]
type State private (keys: PathKey array, children: obj, shape: Shape, leafCount: int, emptyBelow: int) =
    static let noValues: (obj | null) array = [||]
    static let empty = State([||], noValues, null, 0, 0, 0)

    /// A node from the keys and values of a small node (tree null), or from the tree of a large one
    /// (keys and values empty), holding count children.
    internal new
        (keys: PathKey array, values: (obj | null) array, tree: Chunk, count: int, leafCount: int, emptyBelow: int) =
        System.Diagnostics.Debug.Assert((if isNull tree then keys.Length else tree.Count) = count)

        State(
            keys,
            (match tree with
             | null -> values :> obj
             | t -> nonNull (t :> obj | null)),
            null,
            leafCount,
            emptyBelow
        )

    static member internal EmptyState = empty


    /// children of a small node, without the cast check (only values arrays and chunks are stored).
    static member inline private AsValues(children: obj) : (obj | null) array =
        nonNull (Unsafe.As<(obj | null) array> children)

    /// A flat or packed node of this shape holding these leaves (owned by the node).
    static member internal OfShape(shape: Shape, leaves: (obj | null) array) =
        State(shape.Keys, leaves, shape, shape.LeafCount, 0)

    /// The shape of a flat or packed node, else null.
    member internal _.Shape = shape

    /// A packed node: a shape with sub-states, the leaves in one array.
    member internal _.IsPacked = not (isNull shape) && not shape.IsFlat

    /// A flat or packed node: its leaves in one array in the order of its Shape, so an operation that
    /// keeps the shape makes one new leaf array and no node (shape interning included) below it.
    member internal _.HasShape = not (isNull shape)

    /// The leaves of a flat or packed node in path order (for a flat node, its values).
    member internal _.LeafArray: (obj | null) array = State.AsValues children

    /// The values of a packed node's children: its leaves, and views of its sub-trees.
    member private _.Unpack() : (obj | null) array =
        let leaves = State.AsValues children
        let values = Array.zeroCreate keys.Length
        let mutable at = 0

        for i in 0 .. keys.Length - 1 do
            match shape.Kid i with
            | null ->
                values.[i] <- leaves.[at]
                at <- at + 1
            | kid ->
                values.[i] <- State.OfShape(kid, Array.sub leaves at kid.LeafCount)
                at <- at + kid.LeafCount

        values

    /// Keys and values of a small node (Tree = null); empty arrays for a large one.
    member internal _.FlatKeys = keys

    member internal s.FlatValues: (obj | null) array =
        match children with
        | :? Chunk -> noValues
        | values -> if s.IsPacked then s.Unpack() else State.AsValues values

    /// The B+tree of a large node (more than Chunk.FlatMax children), else null.
    member internal _.Tree: Chunk =
        match children with
        | :? Chunk as tree -> tree
        | _ -> null

    member _.Count =
        match children with
        | :? Chunk as tree -> tree.Count
        | _ -> keys.Length

    member _.LeafCount = leafCount
    /// How many children are empty sub-states or have one below them (flat operations drop those).
    member internal _.EmptyBelow = emptyBelow
    member internal _.HasEmpty = emptyBelow > 0

    /// The children in key order; large nodes are copied out of their tree.
    member internal s.Children() : struct (PathKey array * (obj | null) array) =
        match children with
        | :? Chunk as t ->
            let k = Array.zeroCreate t.Count
            let v = Array.zeroCreate t.Count
            Chunk.copyTo t k v 0 |> ignore
            struct (k, v)
        | values -> struct (keys, (if s.IsPacked then s.Unpack() else State.AsValues values))

    member internal s.TryGet(key: PathKey, value: outref<obj | null>) : bool =
        match children with
        | :? Chunk as t -> Chunk.tryFind t key &value
        | values ->
            let i = Chunk.search keys key

            if i < 0 then
                value <- null
                false
            elif not s.IsPacked then
                value <- (State.AsValues values).[i]
                true
            else
                let at = shape.StartOf i

                value <-
                    match shape.Kid i with
                    | null -> (State.AsValues values).[at]
                    | kid -> State.OfShape(kid, Array.sub (State.AsValues values) at kid.LeafCount)

                true

    /// What a child adds to its parent's leaf count, and whether it holds an empty sub-state.
    static member inline internal LeavesOf(v: obj | null) =
        match v with
        | :? State as s -> s.LeafCount
        | _ -> 1

    static member inline internal EmptyOf(v: obj | null) =
        match v with
        | :? State as s -> if s.Count = 0 || s.EmptyBelow > 0 then 1 else 0
        | _ -> 0

    /// A node from sorted, distinct keys; the arrays are owned by the new node. A small sub-tree
    /// whose sub-states are all flat or packed is packed (see Shape).
    static member internal OfArrays(keys: PathKey array, values: (obj | null) array) : State =
        if keys.Length = 0 then
            empty
        else
            let mutable leaves = 0
            let mutable empties = 0
            let mutable subs = 0
            let mutable packable = true

            for v in values do
                match v with
                | :? State as c ->
                    leaves <- leaves + c.LeafCount
                    empties <- empties + (if c.Count = 0 || c.EmptyBelow > 0 then 1 else 0)
                    subs <- subs + 1
                    packable <- packable && not (isNull c.Shape) && c.Shape.Depth < Shape.MaxDepth
                | _ -> leaves <- leaves + 1

            if keys.Length > Chunk.FlatMax then
                State([||], [||], Chunk.ofSorted keys values, keys.Length, leaves, empties)
            elif empties > 0 || leaves > Shape.MaxLeaves then
                State(keys, values, null, keys.Length, leaves, empties)
            elif subs = 0 then
                State(keys, values, Shape.Intern(keys, null, leaves), leaves, 0)
            elif packable then
                State.Pack(keys, values, leaves)
            else
                State(keys, values, null, keys.Length, leaves, empties)

    /// The packed node of these children: leaves, and flat or packed sub-states.
    static member private Pack(keys: PathKey array, values: (obj | null) array, leafCount: int) : State =
        let kids = Shape.KidBuffer
        let leaves = Array.zeroCreate leafCount
        let mutable at = 0

        for i in 0 .. keys.Length - 1 do
            match values.[i] with
            | :? State as c ->
                kids.[i] <- c.Shape
                Array.blit c.LeafArray 0 leaves at c.LeafCount
                at <- at + c.LeafCount
            | leaf ->
                kids.[i] <- null
                leaves.[at] <- leaf
                at <- at + 1

        State(keys, leaves, Shape.Intern(keys, kids, leafCount), leafCount, 0)

    /// Two children of equal nodes: sub-states recursively, variables (the common leaf) by their own
    /// Equals before the general leaf comparison and its interface tests.
    static member private ChildEquals(x: obj | null, y: obj | null) : bool =
        match x, y with
        | (:? State as x), (:? State as y) -> Deep.guard (fun () -> State.NodeEquals(x, y))
        | (:? State), _
        | _, (:? State) -> false
        | (:? Variable as v), w -> v.Equals w
        | x, y -> Leaf.equals x y

    static member private LeavesEqual(x: (obj | null) array, y: (obj | null) array) : bool =
        let mutable same = true
        let mutable i = 0

        while same && i < x.Length do
            same <-
                match x.[i] with
                | :? Variable as v -> v.Equals y.[i]
                | a -> Leaf.equals a y.[i]

            i <- i + 1

        same

    static member private EntriesEqual
        (ak: PathKey array, av: (obj | null) array, bk: PathKey array, bv: (obj | null) array)
        : bool =
        let mutable same = ak.Length = bk.Length
        let mutable i = 0

        while same && i < ak.Length do
            same <- ak.[i].Equals bk.[i] && State.ChildEquals(av.[i], bv.[i])
            i <- i + 1

        same

    /// Equality of two B+trees chunk by chunk, without copying their entries out: 1 equal, 0 not,
    /// -1 when the chunks are cut differently (the caller then compares the copied-out entries).
    static member private ChunksEqual(x: Chunk, y: Chunk) : int =
        if x.Count <> y.Count || x.IsLeaf <> y.IsLeaf then
            -1
        elif x.IsLeaf then
            if State.EntriesEqual(x.Keys, x.Values, y.Keys, y.Values) then
                1
            else
                0
        elif x.Children.Length <> y.Children.Length then
            -1
        else
            let mutable answer = 1
            let mutable i = 0

            while answer = 1 && i < x.Children.Length do
                answer <- State.ChunksEqual(x.Children.[i], y.Children.[i])
                i <- i + 1

            answer

    static member internal NodeEquals(a: State, b: State) : bool =
        if obj.ReferenceEquals(a, b) then
            true
        elif a.Count <> b.Count || a.LeafCount <> b.LeafCount || a.EmptyBelow <> b.EmptyBelow then
            false
        elif not (isNull a.Shape) && not (isNull b.Shape) then
            // A shape is the whole structure below a node (it holds no empty sub-state).
            Shape.Same(a.Shape, b.Shape) && State.LeavesEqual(a.LeafArray, b.LeafArray)
        else
            // Equal counts: both flat or both trees (a node is a tree exactly when it has more
            // than Chunk.FlatMax children).
            match a.Tree, b.Tree with
            | null, _ -> State.EntriesEqual(a.FlatKeys, a.FlatValues, b.FlatKeys, b.FlatValues)
            | x, y ->
                match State.ChunksEqual(x, y) with
                | -1 ->
                    let struct (ak, av) = a.Children()
                    let struct (bk, bv) = b.Children()
                    State.EntriesEqual(ak, av, bk, bv)
                | answer -> answer = 1

    static member private ChildHash(v: obj | null) : int =
        match v with
        | :? State as c -> Deep.guard (fun () -> State.NodeHash c)
        | :? Variable as v -> v.GetHashCode()
        | x -> Leaf.hash x

    static member private EntriesHash(h: int, keys: PathKey array, values: (obj | null) array) : int =
        let mutable h = h

        for i in 0 .. keys.Length - 1 do
            h <- (h * 31 + keys.[i].GetHashCode()) * 31 + State.ChildHash values.[i]

        h

    /// Folds a B+tree's entries in key order into h, as EntriesHash does a flat node's.
    static member private ChunkHash(h: int, c: Chunk) : int =
        if c.IsLeaf then
            State.EntriesHash(h, c.Keys, c.Values)
        else
            let mutable h = h

            for child in c.Children do
                h <- State.ChunkHash(h, child)

            h

    /// EntriesHash of a flat or packed node, its sub-trees read from the leaf array (from at).
    static member private PackedHash(shape: Shape, leaves: (obj | null) array, at: byref<int>) : int =
        let keyHashes = shape.KeyHashes
        let mutable h = keyHashes.Length

        for i in 0 .. keyHashes.Length - 1 do
            let c =
                match shape.Kid i with
                | null ->
                    at <- at + 1
                    State.ChildHash leaves.[at - 1]
                | kid -> State.PackedHash(kid, leaves, &at)

            h <- (h * 31 + keyHashes.[i]) * 31 + c

        h

    static member internal NodeHash(s: State) : int =
        if not (isNull s.Shape) then
            let mutable at = 0
            State.PackedHash(s.Shape, s.LeafArray, &at)
        else
            match s.Tree with
            | null -> State.EntriesHash(s.Count, s.FlatKeys, s.FlatValues)
            | t -> State.ChunkHash(s.Count, t)

    static member private Indent(sb: StringBuilder, level: int) = sb.Append(' ', 2 * level) |> ignore

    static member internal AppendVariable(sb: StringBuilder, v: Variable, level: int) =
        sb.Append(v.GetType().Name).Append('(').Append(Leaf.sizeComment v.Value).Append('\n')
        |> ignore

        State.Indent(sb, level + 1)
        sb.Append("value=").Append(Leaf.literal v.Value) |> ignore

        for kv in v.Metadata do
            sb.Append(",\n") |> ignore
            State.Indent(sb, level + 1)
            sb.Append(kv.Key).Append('=').Append(Leaf.literal kv.Value) |> ignore

        sb.Append('\n') |> ignore
        State.Indent(sb, level)
        sb.Append(')') |> ignore

    static member internal AppendNode(sb: StringBuilder, s: State, level: int) : unit =
        if s.Count = 0 then
            sb.Append("{}") |> ignore
        else
            sb.Append("{\n") |> ignore
            let struct (k, v) = s.Children()

            for i in 0 .. k.Length - 1 do
                State.Indent(sb, level + 1)
                sb.Append(k.[i].ToLiteral()).Append(": ") |> ignore

                match v.[i] with
                | :? State as c -> Deep.guard (fun () -> State.AppendNode(sb, c, level + 1))
                | :? Variable as var -> State.AppendVariable(sb, var, level + 1)
                | leaf -> sb.Append(Leaf.literal leaf) |> ignore

                sb.Append(if i < k.Length - 1 then ",\n" else "\n") |> ignore

            State.Indent(sb, level)
            sb.Append('}') |> ignore

    override s.Equals(other: obj | null) =
        match other with
        | :? State as t -> State.NodeEquals(s, t)
        | _ -> false

    override s.GetHashCode() = State.NodeHash s

    override s.ToString() =
        let sb = StringBuilder("State(")
        State.AppendNode(sb, s, 0)
        sb.Append(')').ToString()

    interface IEquatable<State> with
        member s.Equals t =
            match t with
            | null -> false
            | t -> State.NodeEquals(s, t)

type IStateWrapper =
    abstract Unwrap: unit -> State

[<RequireQualifiedAccess>]
type Child =
    | Sub of State
    | Leaf of (obj | null)

module internal Given =
    /// Pure-dict keys as the pure dict gave them, in Python tuple notation.
    let tuple (keys: obj list) =
        let text (k: obj) =
            match k with
            | :? string as s -> Leaf.quote s
            | :? PathKey as p -> p.ToLiteral()
            | k -> Leaf.literal k

        match keys with
        | [ k ] -> "(" + text k + ",)"
        | ks -> "(" + String.Join(", ", ks |> List.map text) + ")"

    let toPath (keys: obj list) =
        keys
        |> List.map (fun k ->
            match k with
            | :? int as i -> PathKey.FromIndex i
            | :? PathKey as p -> p
            | k -> PathKey.FromName(string k))
        |> KeyPath.OfSeq

[<RequireQualifiedAccess>]
type StateError =
    | NonExhaustiveSplit of remainder: State
    | EverythingNotLast of index: int
    | UnknownPath of keys: obj list
    | MissingPath of path: KeyPath
    | DuplicateKey of keys: obj list
    | IntKeyCollision of path: KeyPath
    | ConversionFailed of path: KeyPath * target: Type * reason: string
    | InvalidPureDict of keys: obj list * reason: string
    | MergeConflictAt of path: KeyPath
    | LeafIsPrefix of leaf: KeyPath * other: KeyPath
    | EmptyPath
    | ZipMismatch of path: KeyPath * inFirst: bool

    member e.Message =
        match e with
        | NonExhaustiveSplit r ->
            $"Non-exhaustive filters, got a non-empty remainder: {r}.\nUse Filter.Everything to match all remaining elements."
        | EverythingNotLast i -> $"Filter.Everything can only be used as the last filters, got it at index {i}."
        | UnknownPath keys -> "key in pure_dict not available in state: " + Given.tuple keys
        | MissingPath p -> "key in state not available in pure_dict: " + p.ToTupleString()
        | DuplicateKey keys ->
            "key in pure_dict names a state entry that another key already names: "
            + Given.tuple keys
        | IntKeyCollision p ->
            "a string key and an int key collide after restoring int paths: "
            + p.ToTupleString()
        | ConversionFailed(p, t, reason) ->
            $"cannot convert the pure_dict value at {p.ToTupleString()} to {t.Name}: {reason}"
        | InvalidPureDict(keys, reason) -> $"invalid pure_dict at {Given.tuple keys}: {reason}"
        | MergeConflictAt p -> "conflicting path in merge: " + p.ToTupleString()
        | LeafIsPrefix(leaf, other) ->
            $"path {leaf.ToTupleString()} is a leaf and also a prefix of path {other.ToTupleString()}"
        | EmptyPath -> "the empty path () cannot hold a leaf"
        | ZipMismatch(p, inFirst) ->
            let which = if inFirst then "first" else "second"
            $"leaf path {p.ToTupleString()} is only in the {which} state"

    member e.Path =
        match e with
        | NonExhaustiveSplit _
        | EverythingNotLast _
        | EmptyPath -> None
        | UnknownPath keys
        | DuplicateKey keys
        | InvalidPureDict(keys, _) -> Some(Given.toPath keys)
        | MissingPath p
        | IntKeyCollision p
        | ConversionFailed(p, _, _)
        | MergeConflictAt p
        | LeafIsPrefix(p, _)
        | ZipMismatch(p, _) -> Some p

type ReplaceOptions =
    { Replace: (obj | null -> obj | null -> obj | null) option
      Strict: bool }

/// Node-level helpers shared by the operations below.
module internal Node =
    let empty = State.EmptyState

    let inline isNull' (s: State) = obj.ReferenceEquals(s, null)

    /// The state as a flat operation sees it: empty sub-states removed (null when no leaf is left).
    let rec dropEmpties (s: State) : State =
        if s.LeafCount = 0 then
            Unchecked.defaultof<State>
        elif not s.HasEmpty then
            s
        else
            let struct (keys, values) = s.Children()
            withoutEmpties keys values

    /// The node of these children (sorted keys) less every sub-state without leaves, and with the
    /// empty sub-states below the others dropped too; null when no child is left.
    and withoutEmpties (keys: PathKey array) (values: (obj | null) array) : State =
        let k = ResizeArray(keys.Length)
        let v = ResizeArray(keys.Length)

        for i in 0 .. keys.Length - 1 do
            match values.[i] with
            | :? State as c ->
                let d = Deep.guard (fun () -> dropEmpties c)

                if not (isNull' d) then
                    k.Add keys.[i]
                    v.Add(box d)
            | leaf ->
                k.Add keys.[i]
                v.Add leaf

        if k.Count = 0 then
            Unchecked.defaultof<State>
        else
            State.OfArrays(k.ToArray(), v.ToArray())

    let orEmpty (s: State) = if isNull' s then empty else s

    /// The node of a shape whose children at leaf positions are values.[at ..] in path order (which
    /// may hold sub-states), built node by node.
    let rec ofShapeValues (shape: Shape) (values: (obj | null) array) (at: byref<int>) : State =
        let v = Array.zeroCreate shape.Keys.Length

        for i in 0 .. shape.Keys.Length - 1 do
            match shape.Kid i with
            | null ->
                v.[i] <- values.[at]
                at <- at + 1
            | kid -> v.[i] <- ofShapeValues kid values &at

        State.OfArrays(shape.Keys, v)

    /// The node of shape whose leaves are now out (owned by the node): a flat or packed node, or,
    /// when grafts (some of out are sub-states), one built node by node.
    let ofShapeLeaves (shape: Shape) (out: (obj | null) array) (grafts: bool) : State =
        if grafts then
            let mutable at = 0
            ofShapeValues shape out &at
        else
            State.OfShape(shape, out)

    let private withCounts (s: State) (old: obj | null) (hadOld: bool) (value: obj | null) =
        let leaves =
            s.LeafCount + State.LeavesOf value - (if hadOld then State.LeavesOf old else 0)

        let empties =
            s.EmptyBelow + State.EmptyOf value - (if hadOld then State.EmptyOf old else 0)

        struct (leaves, empties)

    /// The node with key set to value (inserted or replaced). O(log k).
    let withChild (s: State) (key: PathKey) (value: obj | null) : State =
        match s.Tree with
        | null ->
            let keys = s.FlatKeys
            let i = Chunk.search keys key

            if i >= 0 then
                let values = Arrays.copy s.FlatValues
                let old = values.[i]
                values.[i] <- value
                let struct (leaves, empties) = withCounts s old true value
                // Same key set: the keys array is shared with the old node.
                State(keys, values, null, s.Count, leaves, empties)
            else
                let at = ~~~i
                let n = keys.Length
                let k = Array.zeroCreate (n + 1)
                let v = Array.zeroCreate (n + 1)
                Array.blit keys 0 k 0 at
                Array.blit s.FlatValues 0 v 0 at
                k.[at] <- key
                v.[at] <- value
                Array.blit keys at k (at + 1) (n - at)
                Array.blit s.FlatValues at v (at + 1) (n - at)
                let struct (leaves, empties) = withCounts s null false value

                if n + 1 <= Chunk.FlatMax then
                    State(k, v, null, n + 1, leaves, empties)
                else
                    State([||], [||], Chunk.ofSorted k v, n + 1, leaves, empties)
        | tree ->
            let mutable had = false
            let mutable old = null
            let root = Chunk.root (Chunk.set tree key value &had &old)
            let struct (leaves, empties) = withCounts s old had value
            State([||], [||], root, (if had then s.Count else s.Count + 1), leaves, empties)

    /// The node without key (which must be present). O(log k).
    let withoutChild (s: State) (key: PathKey) : State =
        let mutable old = null
        s.TryGet(key, &old) |> ignore
        let leaves = s.LeafCount - State.LeavesOf old
        let empties = s.EmptyBelow - State.EmptyOf old

        match s.Tree with
        | null ->
            let i = Chunk.search s.FlatKeys key
            let n = s.Count

            if n = 1 then
                empty
            else
                let k = Array.zeroCreate (n - 1)
                let v = Array.zeroCreate (n - 1)
                Array.blit s.FlatKeys 0 k 0 i
                Array.blit s.FlatValues 0 v 0 i
                Array.blit s.FlatKeys (i + 1) k i (n - i - 1)
                Array.blit s.FlatValues (i + 1) v i (n - i - 1)
                State(k, v, null, n - 1, leaves, empties)
        | tree ->
            let root = Chunk.remove tree key

            if s.Count - 1 <= Chunk.FlatMax then
                let k = Array.zeroCreate (s.Count - 1)
                let v = Array.zeroCreate (s.Count - 1)
                Chunk.copyTo root k v 0 |> ignore
                State(k, v, null, s.Count - 1, leaves, empties)
            else
                State([||], [||], root, s.Count - 1, leaves, empties)

    /// The packed node s with the leaf at keys.[from ..] (a path inside it) set to value, its shape
    /// unchanged: O(leaves of s). Null when that path is not a leaf of s or value is a sub-state.
    let setPacked (s: State) (keys: PathKey array) (from: int) (value: obj | null) : State =
        match value with
        | :? State -> Unchecked.defaultof<State>
        | _ ->
            let mutable shape = s.Shape
            let mutable at = 0
            let mutable k = from
            let mutable result = Unchecked.defaultof<State>

            while not (isNull shape) do
                let i = Chunk.search shape.Keys keys.[k]

                if i < 0 then
                    shape <- null
                else
                    at <- at + shape.StartOf i

                    match shape.Kid i with
                    | null ->
                        if k = keys.Length - 1 then
                            let leaves = Arrays.copy s.LeafArray
                            leaves.[at] <- value
                            result <- State.OfShape(s.Shape, leaves)

                        shape <- null
                    | kid ->
                        shape <- if k = keys.Length - 1 then null else kid
                        k <- k + 1

            result

    /// Calls f on every leaf below s with its path.
    let rec iterLeaves (nodePath: KeyPath) (s: State) (f: KeyPath -> obj | null -> unit) : unit =
        let struct (keys, values) = s.Children()

        for i in 0 .. keys.Length - 1 do
            match values.[i] with
            | :? State as c -> Deep.guard (fun () -> iterLeaves (nodePath.Append keys.[i]) c f)
            | leaf -> f (nodePath.Append keys.[i]) leaf

/// One spare instance of a walk's buffers per thread, taken at the start of a call and kept again at
/// its end, so that operations on small states do not build their buffers each time. Take empties
/// the slot, so a call made while the buffers are in use (a predicate that filters) gets its own.
type internal Spare<'T when 'T: not struct and 'T: null> =
    [<ThreadStatic; DefaultValue>]
    static val mutable private item: 'T

    /// The thread's spare, or null when it has none.
    static member Take() : 'T =
        let x = Spare<'T>.item
        Spare<'T>.item <- null
        x

    /// Makes x the thread's spare; it must hold no state or leaf of the finished call.
    static member Keep(x: 'T) = Spare<'T>.item <- x

/// Key arrays are immutable, so nodes with the same children keys can share one array. An operation
/// that builds many nodes keeps one of these to find an array it already made for the same keys
/// instead of allocating another: a split of a 1M-leaf model makes the same few key subsets
/// thousands of times, and sharing them saves a third of its allocations.
[<Sealed>]
type internal KeyArrays() =
    // Both tables are made only once an operation has built more than WarmUp arrays: small states,
    // where it builds a few nodes, should not pay for them.
    [<Literal>]
    let WarmUp = 8

    let mutable built = 0

    // Subsets of one input array, by the bit mask of the kept positions (inputs of at most 64 keys).
    let mutable subsets: Dictionary<struct (PathKey array * uint64), PathKey array> | null =
        null

    // Arrays made before, in a two-way set-associative table by a cheap hash of their keys (lengths
    // and end characters of names, so no string is hashed), checked key by key before one is
    // reused: most trees repeat the same few key sets at each level.
    let mutable recent: (PathKey array | null) array | null = null

    /// An even slot of a table of 1024: the pair (slot, slot + 1) is where these keys may be.
    static let slotOf (keys: ReadOnlySpan<PathKey>) =
        let mutable h = uint32 keys.Length

        for k in keys do
            h <-
                h * 31u
                + uint32 (
                    if k.IsIndex then
                        k.Index
                    else
                        let n = k.Name

                        if n.Length = 0 then
                            0
                        else
                            (n.Length * 31 + int n.[0]) * 31 + int n.[n.Length - 1]
                )

        // Fibonacci hashing: the top bits of the product depend on every bit of h.
        int ((h * 2654435769u) >>> 23) * 2

    static let bySubset =
        { new IEqualityComparer<struct (PathKey array * uint64)> with
            member _.Equals(struct (a, m), struct (b, n)) = obj.ReferenceEquals(a, b) && m = n

            member _.GetHashCode(struct (a, m)) =
                RuntimeHelpers.GetHashCode a * 31 + int m + int (m >>> 32) }

    /// The keys at the given positions (ascending, count of them) of keys.
    member _.Subset(keys: PathKey array, positions: int array, count: int) : PathKey array =
        let gather () =
            let r = Array.zeroCreate count

            for j in 0 .. count - 1 do
                r.[j] <- keys.[positions.[j]]

            r

        built <- built + 1

        if keys.Length > 64 || built <= WarmUp then
            gather ()
        else
            let mutable mask = 0UL

            for j in 0 .. count - 1 do
                mask <- mask ||| (1UL <<< positions.[j])

            let table =
                match subsets with
                | null ->
                    let t = Dictionary<_, _>(bySubset)
                    subsets <- t
                    t
                | t -> t

            let key = struct (keys, mask)
            let mutable found = Unchecked.defaultof<PathKey array>

            if table.TryGetValue(key, &found) then
                found
            else
                let r = gather ()

                if table.Count >= 4096 then
                    table.Clear()

                table.[key] <- r
                r

    /// An array holding the keys of the buffer (not empty): a shared one when it has the same keys.
    member _.Of(buffer: ReadOnlySpan<PathKey>) : PathKey array =
        built <- built + 1

        if built <= WarmUp then
            buffer.ToArray()
        else
            let table =
                match recent with
                | null ->
                    let t = Array.zeroCreate 1024
                    recent <- t
                    t
                | t -> t

            let slot = slotOf buffer

            let a = table.[slot]
            let b = table.[slot + 1]

            if not (isNull a) && buffer.SequenceEqual(ReadOnlySpan(nonNull a)) then
                nonNull a
            elif not (isNull b) && buffer.SequenceEqual(ReadOnlySpan(nonNull b)) then
                nonNull b
            else
                let made = buffer.ToArray()
                // The empty way if there is one, else the first (most trees need few ways).
                table.[if isNull a || not (isNull b) then slot else slot + 1] <- made
                made

/// The children one output node keeps from one input node, visited in key order. While the output
/// repeats the input child for child nothing is stored, so an output that keeps everything unchanged
/// is the input instance and costs no allocation; the buffers are reused across nodes (Reset).
[<Sealed>]
type internal Picks() =
    let mutable positions: int array = [||]
    let mutable values: (obj | null) array = [||]
    let mutable count = 0
    // Every child so far kept unchanged, none skipped: nothing is stored yet.
    let mutable same = true

    /// Stores the unchanged prefix (children 0 .. count - 1 of the input) once the output diverges.
    member private _.Materialize(inputValues: (obj | null) array) =
        same <- false

        if positions.Length < inputValues.Length then
            positions <- Array.zeroCreate inputValues.Length
            values <- Array.zeroCreate inputValues.Length

        for j in 0 .. count - 1 do
            positions.[j] <- j
            values.[j] <- inputValues.[j]

    member _.Reset() =
        count <- 0
        same <- true

    /// How many children the buffers hold before they grow.
    member _.Capacity = positions.Length

    /// Keeps child i of the input (whose children are inputValues) with value; unchanged: value is
    /// the input's own child.
    member p.Add(i: int, value: obj | null, unchanged: bool, inputValues: (obj | null) array) =
        if same && unchanged && i = count then
            count <- count + 1
        else
            if same then
                p.Materialize inputValues

            positions.[count] <- i
            values.[count] <- value
            count <- count + 1

    /// The output node: the input itself when it kept everything unchanged, null when it kept nothing.
    member p.Build(input: State, keys: PathKey array, inputValues: (obj | null) array, shared: KeyArrays) : State =
        if count = 0 then
            Unchecked.defaultof<State>
        elif same && count = keys.Length then
            input
        else
            if same then
                p.Materialize inputValues

            let k =
                if count = keys.Length then
                    keys
                else
                    shared.Subset(keys, positions, count)

            let v = Array.sub values 0 count
            Array.Clear(values, 0, count)
            State.OfArrays(k, v)

    /// The kept children of one leaf chunk of a large input node: the chunk itself when it kept
    /// everything unchanged, null when it kept nothing, else a new chunk (sharing the input's keys
    /// when every key is kept).
    member p.ToChunk(input: Chunk) : Chunk =
        if count = 0 then
            null
        elif same && count = input.Count then
            input
        else
            if same then
                p.Materialize input.Values

            let k =
                if count = input.Count then
                    input.Keys
                else
                    Array.init count (fun j -> input.Keys.[positions.[j]])

            let v = Array.sub values 0 count
            Array.Clear(values, 0, count)
            Chunk(k, v, [||], count)

/// Writes the children of a node in key order when their number is not known in advance: flat
/// while there are at most Chunk.FlatMax, then leaf chunk by leaf chunk, so that a node of many
/// children is never held in flat arrays first. Filter, Split, Merge and FromFlatState write their
/// large nodes through it.
[<Sealed>]
type internal NodeWriter() =
    let keys: PathKey array = Array.zeroCreate Chunk.FlatMax
    let values: (obj | null) array = Array.zeroCreate Chunk.FlatMax
    let mutable pending = 0
    let chunks = ResizeArray<Chunk>()
    let mutable count = 0
    let mutable leaves = 0
    let mutable empties = 0

    /// Moves the children held flat into leaf chunks of at most Chunk.Fanout.
    member private _.Flush() =
        let mutable start = 0

        while start < pending do
            let n = min Chunk.Fanout (pending - start)
            chunks.Add(Chunk(Array.sub keys start n, Array.sub values start n, [||], n))
            start <- start + n

        Array.Clear(values, 0, pending)
        pending <- 0

    member w.Add(key: PathKey, value: obj | null) =
        // A child beyond FlatMax makes the node a tree; from then on a full chunk is written out.
        if pending = keys.Length || (pending = Chunk.Fanout && chunks.Count > 0) then
            w.Flush()

        keys.[pending] <- key
        values.[pending] <- value
        pending <- pending + 1
        count <- count + 1
        leaves <- leaves + State.LeavesOf value
        empties <- empties + State.EmptyOf value

    /// Adds the children of a leaf chunk after those written; once the node is a tree, the chunk
    /// itself is kept rather than copied.
    member w.AddChunk(c: Chunk) =
        if chunks.Count = 0 && pending + c.Count <= keys.Length then
            for i in 0 .. c.Count - 1 do
                w.Add(c.Keys.[i], c.Values.[i])
        else
            w.Flush()
            chunks.Add c
            count <- count + c.Count

            for v in c.Values do
                leaves <- leaves + State.LeavesOf v
                empties <- empties + State.EmptyOf v

    member _.Count = count

    /// The last child written by Add (there is one).
    member _.LastKey = keys.[pending - 1]

    member _.LastValue = values.[pending - 1]

    /// Takes back the last child written by Add; the next call must write one (no two in a row).
    member _.RemoveLast() =
        pending <- pending - 1
        count <- count - 1
        leaves <- leaves - State.LeavesOf values.[pending]
        empties <- empties - State.EmptyOf values.[pending]
        values.[pending] <- null

    /// The node of the children written (null when none), and the writer empty again.
    member w.Build(shared: KeyArrays) : State =
        let result =
            if count = 0 then
                Unchecked.defaultof<State>
            elif chunks.Count = 0 then
                State.OfArrays(shared.Of(ReadOnlySpan(keys, 0, pending)), Array.sub values 0 pending)
            else
                w.Flush()
                State([||], [||], Chunk.ofLeafChunks (chunks.ToArray()), count, leaves, empties)

        w.Reset()
        result

    /// Drops what was written.
    member _.Reset() =
        Array.Clear(values, 0, pending)
        pending <- 0
        chunks.Clear()
        count <- 0
        leaves <- 0
        empties <- 0

    /// How many chunks the buffer holds before it grows.
    member _.Capacity = chunks.Capacity

/// Filter, Split, Where: every leaf is sent to one group (or to none).
module internal Partition =
    type Classifier =
        {
            /// Number of output slots; a leaf classified at or beyond it is dropped.
            Slots: int
            /// The group of a leaf, from the path of its node, its key and its value (a delegate, for
            /// the reason Filter.compile gives).
            Leaf: Func<KeyPath, PathKey, obj | null, int>
            /// The group of every leaf below a node, decided from its path, or -1.
            Node: (KeyPath -> int) option
            /// Whether Leaf or Node look at paths; when not, no path is built during the walk.
            NeedsPath: bool
        }

    /// One walk. Buffers are per depth and reused from node to node: a node's groups are left in
    /// results.[depth * Slots ..] for its parent, which reads them before visiting the next child.
    /// A thread keeps one spare walker with small buffers between calls (Rent, Return), so filtering
    /// a small state does not pay for setting them up each time.
    [<Sealed; AllowNullLiteral>]
    type private Partitioner() =
        let mutable c = Unchecked.defaultof<Classifier>
        let mutable slots = 0
        let mutable picks: Picks array = [||]
        let mutable runs: NodeWriter array = [||]
        let mutable results: State array = [||]
        let mutable shared = Unchecked.defaultof<KeyArrays>
        // Packed nodes: the group of each leaf, and the pruned shape of each (shape, kept leaves).
        // Shapes are immutable, so the pruned ones stay right across calls: the spare walker keeps
        // them (shapes only, never leaves), and calls on states of one model find them.
        let groupOf: int array = Array.zeroCreate Shape.MaxLeaves
        let mutable cursor = 0
        let pruned = Dictionary<struct (Shape * uint64), Shape>()
        // Per group: the kept-leaf mask of the packed node at hand, and the last pruning answered.
        let mutable masks: uint64 array = [||]
        let mutable lastShape: Shape array = [||]
        let mutable lastMask: uint64 array = [||]
        let mutable lastPruned: Shape array = [||]

        /// The thread's spare walker, or a new one when it has none (or a walk on it is under way).
        static member Rent(classifier: Classifier) =
            let w =
                match Spare<Partitioner>.Take() with
                | null -> Partitioner()
                | w -> w

            w.Start classifier
            w

        member private _.Start(classifier: Classifier) =
            c <- classifier
            slots <- classifier.Slots

            if masks.Length < slots then
                masks <- Array.zeroCreate slots
                lastShape <- Array.zeroCreate slots
                lastMask <- Array.zeroCreate slots
                lastPruned <- Array.zeroCreate slots

            shared <- KeyArrays()

        /// Keeps the walker as the thread's spare unless a large node grew its buffers; it holds no
        /// reference to states or leaves afterwards.
        member w.Return() =
            Array.Clear results
            c <- Unchecked.defaultof<Classifier>
            shared <- Unchecked.defaultof<KeyArrays>

            if
                picks.Length <= 64
                && picks |> Array.forall (fun p -> p.Capacity <= Chunk.FlatMax)
                && runs |> Array.forall (fun r -> r.Capacity <= 1024)
            then
                Spare.Keep w

        member _.Results = results

        member private _.Reserve(depth: int) =
            let need = (depth + 2) * slots

            if picks.Length < need then
                let n = max need (2 * picks.Length)
                let old = picks.Length
                Array.Resize(&picks, n)
                Array.Resize(&runs, n)
                Array.Resize(&results, n)

                for i in old .. n - 1 do
                    picks.[i] <- Picks()
                    runs.[i] <- NodeWriter()

        member w.Node(nodePath: KeyPath, depth: int, node: State) : unit =
            w.Reserve depth
            let at = depth * slots
            Array.Clear(results, at, slots)

            if node.LeafCount > 0 then
                let decided =
                    match c.Node with
                    | Some decide -> decide nodePath
                    | None -> -1

                if decided >= 0 then
                    if decided < slots then
                        results.[at + decided] <- Node.dropEmpties node
                elif node.IsPacked then
                    w.Packed(nodePath, at, node)
                elif not (isNull node.Tree) then
                    w.Wide(nodePath, depth, at, node)
                else
                    let struct (keys, values) = node.Children()
                    w.Children(nodePath, depth, at, keys, values)

                    for g in 0 .. slots - 1 do
                        results.[at + g] <- picks.[at + g].Build(node, keys, values, shared)

        /// The groups of a large node, one leaf chunk of its tree at a time: kept chunks are written
        /// as they are (runs), and a group that kept every chunk unchanged is the node itself.
        member private w.Wide(nodePath: KeyPath, depth: int, at: int, node: State) : unit =
            let unchanged = Array.create slots true

            Chunk.iterLeafChunks node.Tree (fun chunk ->
                w.Children(nodePath, depth, at, chunk.Keys, chunk.Values)

                for g in 0 .. slots - 1 do
                    let kept = picks.[at + g].ToChunk chunk

                    if not (obj.ReferenceEquals(kept, chunk)) then
                        unchanged.[g] <- false

                    if not (isNull kept) then
                        runs.[at + g].AddChunk kept)

            for g in 0 .. slots - 1 do
                results.[at + g] <-
                    if unchanged.[g] then
                        runs.[at + g].Reset()
                        node
                    else
                        runs.[at + g].Build shared

        /// Sends the children (keys, values) of a node at depth to the picks of their groups.
        member private w.Children
            (nodePath: KeyPath, depth: int, at: int, keys: PathKey array, values: (obj | null) array)
            =
            for g in 0 .. slots - 1 do
                picks.[at + g].Reset()

            for i in 0 .. keys.Length - 1 do
                match values.[i] with
                | :? State as child ->
                    let childPath = if c.NeedsPath then nodePath.Append keys.[i] else nodePath
                    Deep.guard (fun () -> w.Node(childPath, depth + 1, child))
                    let below = at + slots

                    for g in 0 .. slots - 1 do
                        let part = results.[below + g]

                        if not (Node.isNull' part) then
                            picks.[at + g].Add(i, part, obj.ReferenceEquals(part, child), values)
                | leaf ->
                    let target = c.Leaf.Invoke(nodePath, keys.[i], leaf)

                    if target < slots then
                        picks.[at + target].Add(i, leaf, true, values)

        /// Sends the leaves below a packed node's shape to their groups (cursor: the next leaf).
        member private w.Classify(nodePath: KeyPath, shape: Shape, leaves: (obj | null) array) : unit =
            for i in 0 .. shape.Keys.Length - 1 do
                match shape.Kid i with
                | null ->
                    groupOf.[cursor] <- c.Leaf.Invoke(nodePath, shape.Keys.[i], leaves.[cursor])
                    cursor <- cursor + 1
                | kid ->
                    let childPath =
                        if c.NeedsPath then
                            nodePath.Append shape.Keys.[i]
                        else
                            nodePath

                    let decided =
                        match c.Node with
                        | Some decide -> decide childPath
                        | None -> -1

                    if decided >= 0 then
                        // A path filter decides the whole sub-tree, as the walk over nodes does.
                        Array.Fill(groupOf, decided, cursor, kid.LeafCount)
                        cursor <- cursor + kid.LeafCount
                    else
                        w.Classify(childPath, kid, leaves)

        /// The pruned shape of shape keeping the leaves in mask, for group g: the group's last answer
        /// when neighbouring sub-trees repeat a shape (layers of a model), else from the table.
        member private _.Pruned(shape: Shape, mask: uint64, g: int) : Shape =
            if obj.ReferenceEquals(lastShape.[g], shape) && lastMask.[g] = mask then
                lastPruned.[g]
            else
                let key = struct (shape, mask)
                let mutable out = null

                if not (pruned.TryGetValue(key, &out)) then
                    cursor <- 0
                    out <- Shape.Prune(shape, mask, &cursor)

                    if pruned.Count >= 1024 then
                        pruned.Clear()

                    pruned.[key] <- out

                lastShape.[g] <- shape
                lastMask.[g] <- mask
                lastPruned.[g] <- out
                out

        /// A packed node's groups: each is the node itself (it takes every leaf), null (none), or a
        /// packed node of the pruned shape, which is made once per walk for each set of kept leaves.
        member private w.Packed(nodePath: KeyPath, at: int, node: State) : unit =
            let shape = node.Shape
            let leaves = node.LeafArray
            cursor <- 0
            w.Classify(nodePath, shape, leaves)
            Array.Clear(masks, 0, slots)

            for j in 0 .. leaves.Length - 1 do
                let g = groupOf.[j]

                if g < slots then
                    masks.[g] <- masks.[g] ||| (1UL <<< j)

            let all =
                if leaves.Length = 64 then
                    UInt64.MaxValue
                else
                    (1UL <<< leaves.Length) - 1UL

            for g in 0 .. slots - 1 do
                let mask = masks.[g]

                results.[at + g] <-
                    if mask = all then
                        node
                    elif mask = 0UL then
                        Unchecked.defaultof<State>
                    else
                        let kept = Array.zeroCreate (Numerics.BitOperations.PopCount mask)
                        let mutable rest = mask
                        let mutable k = 0

                        while rest <> 0UL do
                            kept.[k] <- leaves.[Numerics.BitOperations.TrailingZeroCount rest]
                            k <- k + 1
                            rest <- rest &&& (rest - 1UL)

                        State.OfShape(w.Pruned(shape, mask, g), kept)

    /// The groups of the state (null for an empty group).
    let run (c: Classifier) (state: State) : State array =
        let w = Partitioner.Rent c
        w.Node(KeyPath.Empty, 0, state)
        let groups = Array.sub w.Results 0 c.Slots
        w.Return()
        groups

    let ofFilters (filters: Filter array) (keepRest: bool) : Classifier =
        let needsPath = filters |> Array.exists Filter.needsPath
        let compiled = filters |> Array.map Filter.compile

        let leaf =
            Func<KeyPath, PathKey, obj | null, int>(fun nodePath key value ->
                let path = if needsPath then nodePath.Append key else KeyPath.Empty
                let mutable g = 0

                while g < compiled.Length && not (compiled.[g].Invoke(path, value)) do
                    g <- g + 1

                g)

        let node =
            // Only a first filter that can decide from a path lets any later one decide.
            if Filter.decidesSubtrees filters.[0] then
                Some(fun nodePath ->
                    // The first filter that takes the whole sub-tree, provided every earlier one takes none.
                    let mutable g = 0
                    let mutable decided = -2

                    while decided = -2 && g < filters.Length do
                        match Filter.verdict filters.[g] nodePath with
                        | Yes -> decided <- g
                        | No -> g <- g + 1
                        | Maybe -> decided <- -1

                    if decided = -2 then filters.Length else decided)
            else
                None

        { Slots = filters.Length + (if keepRest then 1 else 0)
          Leaf = leaf
          Node = node
          NeedsPath = needsPath || node.IsSome }

    let everythingErrors (filters: Filter array) =
        let lastOther = filters |> Array.tryFindIndexBack (fun f -> f <> Everything)

        match lastOther with
        | None -> []
        | Some last ->
            [ for i in 0 .. last - 1 do
                  if filters.[i] = Everything then
                      StateError.EverythingNotLast i ]

/// Union of states, the later winning on a shared path.
module internal Merging =
    /// The least key not yet passed among the first n children lists (each at its cursor), or false
    /// when every list is done: one step of the k-way walk over sorted children that merges share.
    let nextKey
        (children: struct (PathKey array * (obj | null) array) array)
        (cursors: int array)
        (n: int)
        (least: byref<PathKey>)
        : bool =
        let mutable found = false

        for j in 0 .. n - 1 do
            let struct (k, _) = children.[j]

            if cursors.[j] < k.Length && (not found || k.[cursors.[j]].CompareTo least < 0) then
                least <- k.[cursors.[j]]
                found <- true

        found

    /// Walks the union of the children of several nodes in key order; for each key, f gets the
    /// key and the entries of the inputs that have it, in input order.
    let unionChildren (inputs: State array) (f: PathKey -> ResizeArray<obj | null> -> unit) =
        let children = inputs |> Array.map (fun s -> s.Children())
        let cursor = Array.zeroCreate inputs.Length
        let entries = ResizeArray()
        let mutable least = PathKey()

        while nextKey children cursor inputs.Length &least do
            entries.Clear()

            for j in 0 .. inputs.Length - 1 do
                let struct (k, v) = children.[j]

                if cursor.[j] < k.Length && k.[cursor.[j]].Equals least then
                    entries.Add v.[cursor.[j]]
                    cursor.[j] <- cursor.[j] + 1

            f least entries

    /// How to merge packed nodes of given shapes: the merged shape, and for each of its leaves the
    /// input and the index in that input's leaf array it comes from.
    type private Plan =
        { Shape: Shape
          Inputs: int array
          Leaves: int array }

    let private byShapes =
        { new IEqualityComparer<Shape array> with
            member _.Equals(a, b) =
                match a, b with
                | null, _
                | _, null -> obj.ReferenceEquals(a, b)
                | a, b -> a.Length = b.Length && Array.forall2 (fun x y -> obj.ReferenceEquals(x, y)) a b

            member _.GetHashCode a =
                let mutable h = 0

                for x in a do
                    h <- h * 31 + RuntimeHelpers.GetHashCode x

                h }

    /// The merged shape of shapes.[0 .. n - 1], whose leaves start at starts.[j] in input j's leaf
    /// array; the source of each merged leaf is added to inputs and leaves. Same rules as
    /// Merger.Nodes: the later entry wins, trailing sub-states merge with each other.
    let rec private mergeShapes
        (shapes: Shape array)
        (which: int array)
        (starts: int array)
        (inputs: ResizeArray<int>)
        (leaves: ResizeArray<int>)
        : Shape =
        let n = shapes.Length
        let cursor = Array.zeroCreate n
        let leafAt = Arrays.copy starts
        let keys = ResizeArray<PathKey>()
        let kids = ResizeArray<Shape>()
        let runShapes = ResizeArray<Shape>()
        let runWhich = ResizeArray<int>()
        let runStarts = ResizeArray<int>()
        let mutable anySub = false
        let mutable count = 0
        let mutable go = true

        while go do
            // The least key not yet passed, as nextKey finds it for plain nodes.
            let mutable found = false
            let mutable least = PathKey()

            for j in 0 .. n - 1 do
                let k = shapes.[j].Keys

                if cursor.[j] < k.Length && (not found || k.[cursor.[j]].CompareTo least < 0) then
                    least <- k.[cursor.[j]]
                    found <- true

            if not found then
                go <- false
            else
                let mutable leafInput = -1
                let mutable leafIndex = 0
                runShapes.Clear()
                runWhich.Clear()
                runStarts.Clear()

                for j in 0 .. n - 1 do
                    let shape = shapes.[j]
                    let c = cursor.[j]

                    if c < shape.Keys.Length && shape.Keys.[c].Equals least then
                        match shape.Kid c with
                        | null ->
                            leafInput <- which.[j]
                            leafIndex <- leafAt.[j]
                            runShapes.Clear()
                            runWhich.Clear()
                            runStarts.Clear()
                        | kid ->
                            runShapes.Add kid
                            runWhich.Add which.[j]
                            runStarts.Add leafAt.[j]
                            leafInput <- -1

                        leafAt.[j] <- leafAt.[j] + shape.LeavesOf c
                        cursor.[j] <- c + 1

                keys.Add least

                if leafInput >= 0 then
                    kids.Add null
                    inputs.Add leafInput
                    leaves.Add leafIndex
                    count <- count + 1
                elif runShapes.Count = 1 then
                    kids.Add runShapes.[0]
                    anySub <- true

                    for l in 0 .. runShapes.[0].LeafCount - 1 do
                        inputs.Add runWhich.[0]
                        leaves.Add(runStarts.[0] + l)

                    count <- count + runShapes.[0].LeafCount
                else
                    let merged =
                        mergeShapes (runShapes.ToArray()) (runWhich.ToArray()) (runStarts.ToArray()) inputs leaves

                    kids.Add merged
                    anySub <- true
                    count <- count + merged.LeafCount

        Shape.Intern(keys.ToArray(), (if anySub then kids.ToArray() |> withNull else null), count)

    /// The buffers of one depth of a merge, reused from node to node.
    [<Sealed>]
    type private Frame() =
        member val Output = NodeWriter()
        /// Per input: the keys, and the values unless it is packed, of its children or, for a large
        /// node, of the leaf chunk at hand.
        member val Children: struct (PathKey array * (obj | null) array) array = [||] with get, set
        member val Cursors: int array = [||] with get, set
        /// Per large input: its leaf chunks, and the index of the one at hand.
        member val Chunks: Chunk array array = [||] with get, set
        member val ChunkAt: int array = [||] with get, set
        /// Per packed input: where its next child's leaves start in its leaf array.
        member val LeafAt: int array = [||] with get, set
        // The sub-trees under one key, as a node (RunStates), or as the shape, the leaf array and the
        // first leaf of a packed input's sub-tree (RunStates null), so that merging packed sub-trees
        // needs no node made for them. RunShapes is null for a node that is not flat or packed.
        member val RunStates: State array = [||] with get, set
        member val RunShapes: Shape array = [||] with get, set
        member val RunLeaves: (obj | null) array array = [||] with get, set
        member val RunStarts: int array = [||] with get, set

        member f.Reserve(inputs: int) =
            if f.Children.Length < inputs then
                f.Children <- Array.zeroCreate inputs
                f.Cursors <- Array.zeroCreate inputs
                f.Chunks <- Array.zeroCreate inputs
                f.ChunkAt <- Array.zeroCreate inputs
                f.LeafAt <- Array.zeroCreate inputs
                f.RunStates <- Array.zeroCreate inputs
                f.RunShapes <- Array.zeroCreate inputs
                f.RunLeaves <- Array.zeroCreate inputs
                f.RunStarts <- Array.zeroCreate inputs

        /// Adds a sub-tree to the run at r.
        member f.SetRun(r: int, state: State, shape: Shape, leaves: (obj | null) array, start: int) =
            f.RunStates.[r] <- state
            f.RunShapes.[r] <- shape
            f.RunLeaves.[r] <- leaves
            f.RunStarts.[r] <- start

        /// Adds a node to the run at r.
        member f.SetRun(r: int, s: State) =
            f.SetRun(r, s, s.Shape, (if isNull s.Shape then [||] else s.LeafArray), 0)

        /// The run's sub-tree at r as a node: a packed input's sub-tree gets its own leaf array.
        member f.RunNode(r: int) : State =
            let s = f.RunStates.[r]

            if Node.isNull' s then
                let shape = f.RunShapes.[r]
                State.OfShape(shape, Array.sub f.RunLeaves.[r] f.RunStarts.[r] shape.LeafCount)
            else
                s

        /// Drops the references to inputs and leaves held for the first n inputs.
        member f.Release(n: int) =
            for j in 0 .. n - 1 do
                f.Children.[j] <- struct ([||], [||])
                f.Chunks.[j] <- [||]
                f.RunStates.[j] <- Unchecked.defaultof<State>
                f.RunShapes.[j] <- Unchecked.defaultof<Shape>
                f.RunLeaves.[j] <- [||]

    /// Merges nodes; buffers are per depth and reused from node to node. A thread keeps one spare
    /// merger with small buffers between calls, as Partition keeps a walker.
    [<Sealed; AllowNullLiteral>]
    type private Merger() =
        let mutable shared = KeyArrays()
        let frames = ResizeArray<Frame>()
        // The inputs of the whole merge, as a run above depth 0.
        let top = Frame()
        // Packed inputs: a merge plan per tuple of input shapes, kept across calls as Partition keeps
        // its pruned shapes; the last plan is checked first, since neighbouring sub-trees of a model
        // usually have the same shapes.
        let plans = Dictionary<Shape array, Plan>(byShapes)
        let mutable probe: Shape array = [||]
        let mutable lastShapes: Shape array = [||]
        let mutable lastPlan = Unchecked.defaultof<Plan>

        static member Rent() =
            match Spare<Merger>.Take() with
            | null -> Merger()
            | m ->
                m.Start()
                m

        member private _.Start() = shared <- KeyArrays()

        /// Keeps the merger as the thread's spare unless a large node grew its buffers (the buffers
        /// hold no state or leaf once a merge is done).
        member m.Return() =
            shared <- Unchecked.defaultof<KeyArrays>
            Array.Clear probe

            if frames.Count <= 64 && frames |> Seq.forall (fun f -> f.Output.Capacity <= 1024) then
                Spare.Keep m

        member private _.Frame(depth: int, inputs: int) =
            while frames.Count <= depth do
                frames.Add(Frame())

            let f = frames.[depth]
            f.Reserve inputs
            f

        member private _.Plan(n: int) : Plan =
            let mutable same = lastShapes.Length = n

            for j in 0 .. n - 1 do
                same <- same && obj.ReferenceEquals(lastShapes.[j], probe.[j])

            if same then
                lastPlan
            else
                let mutable plan = Unchecked.defaultof<Plan>

                if not (plans.TryGetValue(probe, &plan)) then
                    let from = ResizeArray()
                    let at = ResizeArray()

                    let shape =
                        mergeShapes (Arrays.copy probe) (Array.init n id) (Array.zeroCreate n) from at

                    plan <-
                        { Shape = shape
                          Inputs = from.ToArray()
                          Leaves = at.ToArray() }

                    if plans.Count >= 1024 then
                        plans.Clear()

                    plans.[Arrays.copy probe] <- plan

                lastShapes <- Arrays.copy probe
                lastPlan <- plan
                plan

        /// Merges flat or packed sub-trees (shape, leaf array, first leaf) by the plan for their
        /// shapes; null when the merged node would hold more leaves than a packed node may (the
        /// caller merges it node by node).
        member private m.Packed
            (shapes: Shape array, leafArrays: (obj | null) array array, starts: int array, n: int)
            : State =
            if probe.Length <> n then
                probe <- Array.zeroCreate n

            Array.blit shapes 0 probe 0 n
            let plan = m.Plan n

            if plan.Shape.LeafCount > Shape.MaxLeaves then
                Unchecked.defaultof<State>
            else
                let leaves = Array.zeroCreate plan.Leaves.Length

                for l in 0 .. leaves.Length - 1 do
                    let j = plan.Inputs.[l]
                    leaves.[l] <- leafArrays.[j].[starts.[j] + plan.Leaves.[l]]

                State.OfShape(plan.Shape, leaves)

        /// Merges inputs.[0 .. n - 1] (two or more); null when no leaf is left.
        member m.Nodes(inputs: State array, n: int) : State =
            top.Reserve n

            for j in 0 .. n - 1 do
                top.SetRun(j, inputs.[j])

            let merged = m.Run(top, n, 0)
            top.Release n
            merged

        /// Merges the run of sub-trees of frame f (two or more) at depth.
        member private m.Run(f: Frame, count: int, depth: int) : State =
            let mutable shaped = true

            for r in 0 .. count - 1 do
                shaped <- shaped && not (isNull f.RunShapes.[r])

            let merged =
                if shaped then
                    m.Packed(f.RunShapes, f.RunLeaves, f.RunStarts, count)
                else
                    Unchecked.defaultof<State>

            if Node.isNull' merged then
                for r in 0 .. count - 1 do
                    f.RunStates.[r] <- f.RunNode r

                m.Plain(f.RunStates, count, depth)
            else
                merged

        member private m.Plain(inputs: State array, n: int, depth: int) : State =
            let f = m.Frame(depth, n)
            let children = f.Children
            let cursors = f.Cursors

            for j in 0 .. n - 1 do
                let s = inputs.[j]

                match s.Tree with
                | null ->
                    children.[j] <-
                        if s.IsPacked then
                            struct (s.FlatKeys, [||])
                        else
                            s.Children()

                    f.Chunks.[j] <- [||]
                | tree ->
                    let chunks = ResizeArray()
                    Chunk.iterLeafChunks tree chunks.Add
                    f.Chunks.[j] <- chunks.ToArray()
                    children.[j] <- struct (f.Chunks.[j].[0].Keys, f.Chunks.[j].[0].Values)

                f.ChunkAt.[j] <- 0
                cursors.[j] <- 0
                f.LeafAt.[j] <- 0

            let mutable least = PathKey()

            while nextKey children cursors n &least do
                // The later entry wins; trailing sub-states merge with each other, and a
                // sub-state without leaves carries nothing (a merge is a flat operation).
                let mutable leaf = null
                let mutable isLeaf = false
                let mutable runCount = 0

                for j in 0 .. n - 1 do
                    let struct (k, v) = children.[j]
                    let c = cursors.[j]

                    if c < k.Length && k.[c].Equals least then
                        let input = inputs.[j]

                        if input.IsPacked then
                            let at = f.LeafAt.[j]

                            match input.Shape.Kid c with
                            | null ->
                                leaf <- input.LeafArray.[at]
                                isLeaf <- true
                                runCount <- 0
                            | kid ->
                                f.SetRun(runCount, Unchecked.defaultof<State>, kid, input.LeafArray, at)
                                runCount <- runCount + 1
                                isLeaf <- false

                            f.LeafAt.[j] <- at + input.Shape.LeavesOf c
                        else
                            match v.[c] with
                            | :? State as s ->
                                if s.LeafCount > 0 then
                                    f.SetRun(runCount, s)
                                    runCount <- runCount + 1
                                    isLeaf <- false
                            | x ->
                                leaf <- x
                                isLeaf <- true
                                runCount <- 0

                        cursors.[j] <- c + 1

                        if c + 1 = k.Length && f.ChunkAt.[j] + 1 < f.Chunks.[j].Length then
                            // The next leaf chunk of a large input.
                            let next = f.Chunks.[j].[f.ChunkAt.[j] + 1]
                            f.ChunkAt.[j] <- f.ChunkAt.[j] + 1
                            children.[j] <- struct (next.Keys, next.Values)
                            cursors.[j] <- 0

                let value =
                    if isLeaf then
                        leaf
                    elif runCount = 0 then
                        null
                    elif runCount = 1 then
                        box (Node.dropEmpties (f.RunNode 0))
                    else
                        box (Deep.guard (fun () -> m.Run(f, runCount, depth + 1)))

                if isLeaf || runCount > 0 then
                    f.Output.Add(least, value)

            f.Release n
            f.Output.Build shared

    /// Merges nodes (two or more); null when no leaf is left.
    let mergeNodes (inputs: State array) : State =
        let m = Merger.Rent()
        let merged = m.Nodes(inputs, inputs.Length)
        m.Return()
        merged

    /// Every path that is a leaf in one input and a leaf or a non-empty sub-tree in another, once.
    let rec conflicts (inputs: State array) (nodePath: KeyPath) (found: ResizeArray<KeyPath>) : unit =
        unionChildren inputs (fun key entries ->
            if entries.Count >= 2 then
                let mutable leaves = 0
                let subs = ResizeArray<State>()

                for e in entries do
                    match e with
                    | :? State as s ->
                        if s.LeafCount > 0 then
                            subs.Add s
                    | _ -> leaves <- leaves + 1

                let path = nodePath.Append key

                if leaves >= 1 && leaves + subs.Count >= 2 then
                    found.Add path

                if subs.Count >= 2 then
                    let run = subs.ToArray()
                    Deep.guard (fun () -> conflicts run path found))

/// Copies the leaves of one state into a pre-sized array, in path order.
type internal FlatWriter(result: struct (KeyPath * obj | null) array) =
    let mutable next = 0
    let mutable leaves: (obj | null) array = [||]
    let mutable cursor = 0

    /// The leaves of a packed node's shape (cursor: the next leaf).
    member private w.Packed(nodePath: KeyPath, shape: Shape) : unit =
        for i in 0 .. shape.Keys.Length - 1 do
            let path = nodePath.Append shape.Keys.[i]

            match shape.Kid i with
            | null ->
                result.[next] <- struct (path, leaves.[cursor])
                next <- next + 1
                cursor <- cursor + 1
            | kid -> w.Packed(path, kid)

    member w.Walk(nodePath: KeyPath, s: State) : unit =
        if s.IsPacked then
            leaves <- s.LeafArray
            cursor <- 0
            w.Packed(nodePath, s.Shape)
        else
            w.Plain(nodePath, s)

    member private w.Plain(nodePath: KeyPath, s: State) : unit =
        let struct (keys, values) = s.Children()

        for i in 0 .. keys.Length - 1 do
            match values.[i] with
            | :? State as c -> Deep.guard (fun () -> w.Walk(nodePath.Append keys.[i], c))
            | leaf ->
                result.[next] <- struct (nodePath.Append keys.[i], leaf)
                next <- next + 1

/// One open node of SortedBuilder: its children so far. While the node can still be packed, a
/// sub-tree child is kept as its Shape with its leaves appended to Leaves, so packing makes no node
/// or leaf array for it. Once the node cannot be packed (Plain), its children go to Output as they
/// will be stored in the node.
[<Sealed>]
type internal BuilderLevel() =
    /// While not Plain: the children's keys.
    member val Keys = ResizeArray<PathKey>()
    /// While not Plain: per child, its shape when it is a pending sub-tree, else null (a leaf).
    member val Kids = ResizeArray<Shape>()
    member val Output = NodeWriter()
    /// While not Plain: the leaves of the children in path order.
    member val Leaves = ResizeArray<obj | null>()
    member val Plain = false with get, set
    /// While not Plain: how many children are pending sub-trees.
    member val Pending = 0 with get, set
    /// The shape of the node while its children are exactly a replayed shape's (see
    /// SortedBuilder.TryReplay), else null.
    member val Exact: Shape = null with get, set

    /// The last child when it is a sub-state held as a node, which only a Plain level does (before,
    /// a sub-tree child is a pending shape).
    member l.LastState: State voption =
        if l.Plain && l.Output.Count > 0 then
            match l.Output.LastValue with
            | :? State as s -> ValueSome s
            | _ -> ValueNone
        else
            ValueNone

    /// Takes the children of shape, with the values of pairs.[from ..] as its leaves (the level is empty).
    member l.Load(shape: Shape, pairs: struct (KeyPath * obj | null) array, from: int) =
        CollectionExtensions.AddRange(l.Keys, ReadOnlySpan shape.Keys)

        for i in 0 .. shape.Keys.Length - 1 do
            let kid = shape.Kid i
            l.Kids.Add kid

            if not (isNull kid) then
                l.Pending <- l.Pending + 1

        for t in from .. from + shape.LeafCount - 1 do
            let struct (_, value) = pairs.[t]
            l.Leaves.Add value

        l.Exact <- shape

    /// Stores pending sub-trees as nodes: from now on the children are kept as they will be stored.
    member l.MakePlain() =
        let mutable at = 0

        for i in 0 .. l.Keys.Count - 1 do
            match l.Kids.[i] with
            | null ->
                l.Output.Add(l.Keys.[i], l.Leaves.[at])
                at <- at + 1
            | shape ->
                l.Output.Add(l.Keys.[i], State.OfShape(shape, BuilderLevel.Slice(l.Leaves, at, shape.LeafCount)))
                at <- at + shape.LeafCount

        l.Keys.Clear()
        l.Kids.Clear()
        l.Leaves.Clear()
        l.Pending <- 0
        l.Plain <- true

    static member private Slice(leaves: ResizeArray<obj | null>, at: int, count: int) =
        let a = Array.zeroCreate count
        leaves.CopyTo(at, a, 0, count)
        a

    /// Adds a child: a leaf, a node, or a pending sub-tree (shape) whose leaves are from.Leaves.
    member l.Add(key: PathKey, child: obj | null, from: BuilderLevel | null) =
        l.Exact <- null
        // The packing rules of State.OfArrays, applied child by child: at most FlatMax children and
        // MaxLeaves leaves, sub-trees that are packed and shallower than MaxDepth, no other node.
        match child with
        | :? Shape as shape ->
            if
                not l.Plain
                && not (
                    l.Keys.Count < Chunk.FlatMax
                    && l.Leaves.Count + shape.LeafCount <= Shape.MaxLeaves
                    && shape.Depth < Shape.MaxDepth
                )
            then
                l.MakePlain()

            let leaves = (nonNull from).Leaves

            if l.Plain then
                l.Output.Add(key, State.OfShape(shape, BuilderLevel.Slice(leaves, 0, leaves.Count)))
            else
                l.Keys.Add key
                l.Kids.Add shape
                CollectionExtensions.AddRange(l.Leaves, Span.op_Implicit (CollectionsMarshal.AsSpan leaves))
                l.Pending <- l.Pending + 1
        | :? State ->
            if not l.Plain then
                l.MakePlain()

            l.Output.Add(key, child)
        | leaf ->
            if
                not l.Plain
                && not (l.Keys.Count < Chunk.FlatMax && l.Leaves.Count < Shape.MaxLeaves)
            then
                l.MakePlain()

            if l.Plain then
                l.Output.Add(key, leaf)
            else
                l.Keys.Add key
                l.Kids.Add null
                l.Leaves.Add leaf

    /// Takes back the last child (a repeated path, or an empty sub-state that opens up).
    member l.RemoveLast() =
        l.Exact <- null

        if l.Plain then
            l.Output.RemoveLast()
        else
            let last = l.Keys.Count - 1

            match l.Kids.[last] with
            | null -> l.Leaves.RemoveAt(l.Leaves.Count - 1)
            | shape ->
                l.Leaves.RemoveRange(l.Leaves.Count - shape.LeafCount, shape.LeafCount)
                l.Pending <- l.Pending - 1

            l.Keys.RemoveAt last
            l.Kids.RemoveAt last

    member l.Count = if l.Plain then l.Output.Count else l.Keys.Count

    member l.LastKey =
        if l.Plain then
            l.Output.LastKey
        else
            l.Keys.[l.Keys.Count - 1]

    member l.Clear() =
        l.Keys.Clear()
        l.Kids.Clear()
        l.Leaves.Clear()
        l.Output.Reset()
        l.Pending <- 0
        l.Plain <- false
        l.Exact <- null

    /// Small enough to keep for the next build.
    member l.Small =
        l.Keys.Capacity <= Chunk.FlatMax
        && l.Leaves.Capacity <= 2 * Shape.MaxLeaves
        && l.Output.Capacity <= 1024

/// Builds a state from (path, leaf) pairs sorted by path, in one pass with a stack of open nodes.
/// One builder per thread is reused (Rent, Return), with its key arrays: a state built again with
/// the same keys gets the same key arrays, hence the same shapes, so building a small state makes no
/// new shape and comparing it with an earlier one compares shapes by reference.
[<Sealed; AllowNullLiteral>]
type internal SortedBuilder private () =
    // levels.[j] collects the children of the open node at depth j; openKeys.[j] is the key under
    // which the node at depth j + 1 was opened.
    let levels = ResizeArray<BuilderLevel>()
    let openKeys = ResizeArray<PathKey>()
    let mutable depth = 0
    let errors = ResizeArray<StateError>()
    let shared = KeyArrays()
    // A replay's walk over its shape, by level below the replayed node (0): the shape at each level,
    // the child being visited there, and the path objects already checked.
    let replayShapes: Shape array = Array.zeroCreate (Shape.MaxDepth + 1)
    let replayAt: int array = Array.zeroCreate (Shape.MaxDepth + 1)
    let replayPaths: KeyPath array = Array.zeroCreate (Shape.MaxDepth + 1)

    do levels.Add(BuilderLevel())

    /// Whether a pair can go to the builder as it is: a non-empty path with nothing to graft or reject.
    static member IsPlain(path: KeyPath, value: obj | null) =
        not (isNull (box path))
        && path.Count > 0
        && not (value :? State)
        && not (value :? IStateWrapper)

    /// The thread's spare builder, or a new one.
    static member Rent() =
        match Spare<SortedBuilder>.Take() with
        | null -> SortedBuilder()
        | b -> b

    /// Empties the builder and keeps it as the thread's spare, unless a wide node grew its buffers.
    member b.Return() =
        let mutable small = true

        for level in levels do
            small <- small && level.Small
            level.Clear()

        openKeys.Clear()
        errors.Clear()
        Array.Clear replayPaths
        depth <- 0

        if small && levels.Count <= 64 then
            Spare.Keep b

    member _.Errors = errors

    /// The node a closed level stands for: a pending Shape while it can be packed, else a State.
    member private _.Node(level: BuilderLevel) : obj | null =
        if not (isNull level.Exact) then
            level.Exact
        elif level.Plain then
            Node.orEmpty (level.Output.Build shared)
        else
            let keys = shared.Of(Span.op_Implicit (CollectionsMarshal.AsSpan level.Keys))

            if level.Pending = 0 then
                Shape.Intern(keys, null, level.Leaves.Count)
            else
                let kids = Shape.KidBuffer
                level.Kids.CopyTo(kids)
                Shape.Intern(keys, kids, level.Leaves.Count)

    member private b.Close() =
        let level = levels.[depth]
        let node = b.Node level
        depth <- depth - 1
        levels.[depth].Add(openKeys.[depth], node, level)
        level.Clear()
        openKeys.RemoveAt depth

    member private _.Open(key: PathKey) =
        openKeys.Add key
        depth <- depth + 1

        if levels.Count <= depth then
            levels.Add(BuilderLevel())

    /// Closes the open levels a path of d keys does not share; returns how many it shares.
    member private b.CloseTo(keys: PathKey array, d: int) =
        let mutable common = 0

        while common < depth && common < d - 1 && openKeys.[common].Equals keys.[common] do
            common <- common + 1

        while depth > common do
            b.Close()

        common

    /// When pairs.[i] (path keys in keys) starts a node below the open level common whose previous
    /// sibling has a shape, and the pairs from i on are exactly that shape's leaves under the new
    /// node, takes them in one go: the node gets the shape as it is, with no per-pair bookkeeping and
    /// no new shape. Returns how many pairs it took; 0 leaves the pair to Add. The layers and experts
    /// of a model repeat one structure, so most of their nodes are taken this way.
    member private b.TryReplay(pairs: struct (KeyPath * obj | null) array, i: int, keys: PathKey array, common: int) =
        // The previous sibling is a node only below a node too large to pack (LastState), which is
        // where replays pay: siblings in a small node have few leaves to take, and failed attempts
        // would cost more than replays save. The new node's key differs from its previous
        // sibling's: a sorted input lists a sub-tree's pairs together, and a replay leaves no
        // sub-tree open that a later pair could continue.
        let shape =
            match levels.[depth].LastState with
            | ValueSome previous -> previous.Shape
            | ValueNone -> null

        if
            isNull shape
            || shape.Depth > Shape.MaxDepth
            || i + shape.LeafCount > pairs.Length
        then
            0
        else
            // The new node's path has `base` keys; a leaf at level `top` below it has base + top + 1.
            let ``base`` = common + 1
            replayShapes.[0] <- shape
            replayAt.[0] <- 0
            let mutable top = 0
            // The deepest level whose node the current leaf shares with the previous leaf.
            let mutable shared = 0
            let mutable ok = true
            let mutable t = 0

            while ok && t < shape.LeafCount do
                let mutable kid = replayShapes.[top].Kid replayAt.[top]

                while not (isNull kid) do
                    top <- top + 1
                    replayShapes.[top] <- kid
                    replayAt.[top] <- 0
                    kid <- kid.Kid 0

                let struct (p, value) = pairs.[i + t]

                ok <-
                    SortedBuilder.IsPlain(p, value)
                    && p.Count = ``base`` + top + 1
                    && p.LastKey.Equals replayShapes.[top].Keys.[replayAt.[top]]

                if ok then
                    // Ancestors below the shared one are new to this leaf: their keys, then the shared one.
                    let mutable q = nonNull p.ParentOrNull
                    let mutable level = top

                    while ok && level > shared do
                        ok <- q.LastKey.Equals replayShapes.[level - 1].Keys.[replayAt.[level - 1]]
                        replayPaths.[level] <- q
                        q <- nonNull q.ParentOrNull
                        level <- level - 1

                    // The first leaf's own ancestor is the node's path that the others must share:
                    // the same object for paths from Flatten, which Equals tries first.
                    if t = 0 then
                        replayPaths.[0] <- q
                    else
                        ok <- ok && q.Equals replayPaths.[shared]

                replayAt.[top] <- replayAt.[top] + 1

                while top > 0 && replayAt.[top] = replayShapes.[top].Keys.Length do
                    top <- top - 1
                    replayAt.[top] <- replayAt.[top] + 1

                shared <- top
                t <- t + 1

            let n = shape.LeafCount

            // The replayed node's children are closed: the next pair must not continue inside the last.
            if ok && i + n < pairs.Length then
                let struct (next, _) = pairs.[i + n]
                let struct (lastPath, _) = pairs.[i + n - 1]

                if not (isNull (box next)) && next.Count > ``base`` + 1 then
                    ok <- not ((next.Prefix(``base`` + 1)).Equals(lastPath.Prefix(``base`` + 1)))

            if ok then
                b.Open keys.[common]
                levels.[depth].Load(shape, pairs, i)
                n
            else
                0

    /// Adds pairs.[i], or the whole node it starts (see TryReplay); returns how many pairs it took.
    /// keys holds the path's keys (length = path.Count). sameParent: the previous pair's path has
    /// the same parent instance (siblings from Flatten), so the open levels match.
    member b.Add(pairs: struct (KeyPath * obj | null) array, i: int, keys: PathKey array, sameParent: bool) : int =
        let struct (path, value) = pairs.[i]
        let d = path.Count
        // How many open levels the path shares.
        let common =
            if sameParent && depth = d - 1 then
                d - 1
            else
                b.CloseTo(keys, d)

        let replayed =
            if common < d - 1 then
                b.TryReplay(pairs, i, keys, common)
            else
                0

        if replayed > 0 then
            replayed
        else
            b.AddPair(path, keys, value, common)

    member private b.AddPair(path: KeyPath, keys: PathKey array, value: obj | null, common: int) =
        let d = path.Count
        let mutable ok = true
        let mutable j = common

        while ok && j < d - 1 do
            let level = levels.[depth]

            if level.Count > 0 && level.LastKey.Equals keys.[j] then
                match level.LastState with
                | ValueSome s when s.Count = 0 ->
                    // An empty sub-state (from a grafted state) opens up to take children.
                    level.RemoveLast()
                | _ ->
                    errors.Add(StateError.LeafIsPrefix(path.Prefix(j + 1), path))
                    ok <- false

            if ok then
                b.Open keys.[j]
                j <- j + 1

        if ok then
            let level = levels.[depth]

            if level.Count > 0 && level.LastKey.Equals keys.[d - 1] then
                // A repeated path: the later pair wins.
                level.RemoveLast()

            level.Add(keys.[d - 1], value, null)

        1

    member b.Finish() : State =
        while depth > 0 do
            b.Close()

        let root = levels.[0]

        if root.Count = 0 then
            State.EmptyState
        else
            match b.Node root with
            | :? Shape as shape -> State.OfShape(shape, root.Leaves.ToArray())
            | node -> nonNull node :?> State

/// Pure dicts as the core reads them: any supported dictionary, as (key, value) entries.
module internal PureDict =
    // Boxed once: pure dicts of layer lists would otherwise box the same small ints again and again.
    let private boxedInts: obj array = Array.init 1024 (fun i -> nonNull (box i))

    let boxInt (i: int) : obj =
        if i >= 0 && i < boxedInts.Length then
            boxedInts.[i]
        else
            nonNull (box i)

    let keyObj (k: PathKey) : obj =
        if k.IsIndex then boxInt k.Index else k.Name

    /// The int a canonical integer string stands for: exactly what int.ToString() produces
    /// ("0", "17", "-3"; not "05", "+4", "-0", " 2", or anything out of int's range).
    let canonicalInt (s: string) : int voption =
        let n = s.Length
        let negative = n > 0 && s.[0] = '-'
        let first = if negative then 1 else 0
        let digits = n - first

        if digits < 1 || digits > 10 then
            ValueNone
        elif s.[first] = '0' && (digits > 1 || negative) then
            ValueNone
        else
            let mutable value = 0L
            let mutable ok = true
            let mutable i = first

            while ok && i < n do
                let c = s.[i]

                if c >= '0' && c <= '9' then
                    value <- value * 10L + int64 (int c - int '0')
                else
                    ok <- false

                i <- i + 1

            let value = if negative then -value else value

            if ok && value >= int64 Int32.MinValue && value <= int64 Int32.MaxValue then
                ValueSome(int value)
            else
                ValueNone

    /// The common leaves of pure dicts (null, numbers, strings, arrays, variables), which are not
    /// dictionaries: recognised by class, before any interface test.
    let isCommonLeaf (v: obj | null) =
        match v with
        | null -> true
        | :? ValueType -> not (v :? JsonElement)
        | :? string
        | :? Variable
        | :? Array -> true
        | _ -> false

    /// The entries of the pure-dict nodes on the current path of a walk, one reused buffer per depth.
    [<Sealed>]
    type EntryBuffers() =
        // Made on first use: a value that turns out to be a leaf needs none.
        let mutable buffers: struct (obj * (obj | null)) array array = [||]
        // The buffer being filled and how many entries it holds so far.
        let mutable current: struct (obj * (obj | null)) array = [||]
        let mutable n = 0

        member _.At(depth: int) = buffers.[depth]

        /// Drops every entry held; whether the buffers are small enough to keep for another walk.
        member _.Clear() =
            let mutable small = buffers.Length <= 64

            for b in buffers do
                Array.Clear b
                small <- small && b.Length <= 256

            small

        member private _.Add(k: obj | null, v: obj | null) =
            if n = current.Length then
                Array.Resize(&current, max 8 (2 * n))

            current.[n] <- struct (nonNull k, v)
            n <- n + 1

        member private _.Reserve(count: int) =
            if current.Length < count then
                current <- Array.zeroCreate count

        /// Fills the buffer at depth with the entries of a dictionary-like value; their count, or -1
        /// when the value is a leaf. The common leaves (numbers, strings, arrays, variables) are
        /// recognised first and leave the buffers untouched, the common dictionaries by class before
        /// any interface test.
        member b.Fill(depth: int, v: obj | null) : int =
            if isCommonLeaf v then
                -1
            else
                b.FillEntries(depth, nonNull v)

        member private b.FillEntries(depth: int, v: obj) : int =
            if depth >= buffers.Length then
                let old = buffers.Length
                Array.Resize(&buffers, max 8 (2 * depth))

                for i in old .. buffers.Length - 1 do
                    buffers.[i] <- [||]

            current <- buffers.[depth]
            n <- 0

            let count =
                match v with
                | :? JsonElement as e ->
                    if e.ValueKind = JsonValueKind.Object then
                        for p in e.EnumerateObject() do
                            b.Add(p.Name, box p.Value)

                        n
                    else
                        -1
                | :? Dictionary<obj, obj | null> as d ->
                    b.Reserve d.Count
                    let mutable e = d.GetEnumerator()

                    while e.MoveNext() do
                        b.Add(e.Current.Key, e.Current.Value)

                    n
                | :? Dictionary<string, obj | null> as d ->
                    b.Reserve d.Count
                    let mutable e = d.GetEnumerator()

                    while e.MoveNext() do
                        b.Add(e.Current.Key, e.Current.Value)

                    n
                | :? JsonObject as o ->
                    for kv in o do
                        b.Add(kv.Key, box kv.Value)

                    n
                | :? IDictionary as d ->
                    let e = d.GetEnumerator()

                    while e.MoveNext() do
                        b.Add(e.Key, e.Value)

                    n
                | :? IEnumerable<KeyValuePair<string, obj>> as d ->
                    for kv in d do
                        b.Add(kv.Key, kv.Value)

                    n
                | :? IEnumerable<KeyValuePair<obj, obj>> as d ->
                    for kv in d do
                        b.Add(kv.Key, kv.Value)

                    n
                | :? IEnumerable<KeyValuePair<PathKey, obj>> as d ->
                    for kv in d do
                        b.Add(box kv.Key, kv.Value)

                    n
                | :? IEnumerable<KeyValuePair<int, obj>> as d ->
                    for kv in d do
                        b.Add(box kv.Key, kv.Value)

                    n
                | _ -> -1

            buffers.[depth] <- current
            current <- [||]
            count

        /// Whether the count entries at depth hold a leaf at some depth (empty sub-dicts hold none).
        /// Uses the buffers below depth, which the caller fills again before reading them.
        member b.HasLeaves(depth: int, count: int) : bool =
            let mutable found = false
            let mutable e = 0

            while not found && e < count do
                let struct (_, v) = buffers.[depth].[e]
                let sub = b.Fill(depth + 1, v)
                found <- sub < 0 || (sub > 0 && Deep.guard (fun () -> b.HasLeaves(depth + 1, sub)))
                e <- e + 1

            found

    /// The keys on the current path of a walk, one slot per depth: the state key and, in a pure-dict
    /// walk, the pure dict's own key for it. Paths for error messages are built from it only when a
    /// problem is reported, so a walk that finds none allocates no path.
    [<Sealed>]
    type Trail() =
        let mutable given: (obj | null) array = Array.zeroCreate 8
        let mutable keys: PathKey array = Array.zeroCreate 8

        /// Drops the keys held; whether the trail is small enough to keep for another walk.
        member _.Clear() =
            Array.Clear given
            Array.Clear keys
            given.Length <= 64

        /// Records the entry walked into at depth (the node at depth + 1 lies below it): k is the
        /// pure dict's own key (null in walks of two states, such as Zip).
        member _.Push(depth: int, k: obj | null, key: PathKey) =
            if depth >= given.Length then
                Array.Resize(&given, 2 * depth)
                Array.Resize(&keys, 2 * depth)

            given.[depth] <- k
            keys.[depth] <- key

        /// The given keys from the root down to k, an entry of the node at depth, last first.
        member _.GivenRev(depth: int, k: obj) : obj list =
            let mutable rev = []

            for d in 0 .. depth - 1 do
                rev <- nonNull given.[d] :: rev

            k :: rev

        /// The state path from the root down to key, a child of the node at depth.
        member _.Path(depth: int, key: PathKey) : KeyPath =
            let mutable path = KeyPath.Empty

            for d in 0 .. depth - 1 do
                path <- path.Append keys.[d]

            path.Append key

    /// The buffers of one pure-dict walk. A thread keeps one spare with small buffers between calls
    /// (Rent, Return), so a walk over a small dict does not set them up each time.
    [<Sealed; AllowNullLiteral>]
    type Workspace() =
        let entries = EntryBuffers()
        let trail = Trail()

        let steps =
            ResizeArray<struct (int * int * (obj | null) * PathKey * (obj | null))>()

        member _.Entries = entries
        member _.Trail = trail
        /// The log of Replacing's walk over one packed node (see Replacing.Context.Steps).
        member _.Steps = steps

        /// The thread's spare, or a new one when it has none (or a walk on it is under way).
        static member Rent() =
            match Spare<Workspace>.Take() with
            | null -> Workspace()
            | w -> w

        /// Keeps the workspace as the thread's spare unless a large dict grew its buffers; it holds
        /// no key or value of the walk afterwards.
        member w.Return() =
            steps.Clear()

            if entries.Clear() && trail.Clear() && steps.Capacity <= 256 then
                Spare.Keep w

    /// The entries of a dictionary-like value, or None for a leaf (see EntryBuffers.Fill).
    let tryEntries (v: obj | null) : struct (obj * (obj | null)) array voption =
        // The common leaves, without setting up buffers.
        if isCommonLeaf v then
            ValueNone
        else
            let b = EntryBuffers()
            let n = b.Fill(0, v)

            if n < 0 then
                ValueNone
            else
                ValueSome(Array.sub (b.At 0) 0 n)

    /// A pure-dict key as a state key, when it is an int, a string or a PathKey.
    let toKey (k: obj) : PathKey voption =
        match k with
        | :? int as i -> ValueSome(PathKey.FromIndex i)
        | :? string as s -> ValueSome(PathKey.FromName s)
        | :? PathKey as p -> ValueSome p
        | _ -> ValueNone

    /// Reports every leaf of a pure-dict value (given keys in reverse) through f.
    let rec iterLeaves (givenRev: obj list) (v: obj | null) (f: obj list -> unit) : unit =
        match tryEntries v with
        | ValueSome entries ->
            for struct (k, x) in entries do
                Deep.guard (fun () -> iterLeaves (k :: givenRev) x f)
        | ValueNone -> f (List.rev givenRev)

/// JSON leaves converted back to the type of the value they replace.
module internal JsonLeaf =
    let rec natural (e: JsonElement) : obj | null =
        match e.ValueKind with
        | JsonValueKind.Number -> box (e.GetDouble())
        | JsonValueKind.String -> box (e.GetString())
        | JsonValueKind.True -> box true
        | JsonValueKind.False -> box false
        | JsonValueKind.Null
        | JsonValueKind.Undefined -> null
        | JsonValueKind.Array -> box [| for x in e.EnumerateArray() -> natural x |]
        | _ -> box (e.Clone())

    /// Nested JSON arrays into a rectangular multi-dimensional array of the element type.
    let private toMultiArray (e: JsonElement) (t: Type) : obj | null =
        let elementType = nonNull (t.GetElementType())
        let rank = t.GetArrayRank()
        let lengths = Array.zeroCreate rank
        let mutable probe = e

        for d in 0 .. rank - 1 do
            if probe.ValueKind <> JsonValueKind.Array then
                raise (JsonException $"expected {rank} nested arrays")

            lengths.[d] <- probe.GetArrayLength()

            if d < rank - 1 && lengths.[d] > 0 then
                probe <- probe.[0]

        let result = Array.CreateInstance(elementType, lengths)
        let index = Array.zeroCreate rank

        let rec fill (x: JsonElement) (d: int) =
            if x.ValueKind <> JsonValueKind.Array || x.GetArrayLength() <> lengths.[d] then
                raise (JsonException "the nested arrays are not rectangular")

            let mutable i = 0

            for item in x.EnumerateArray() do
                index.[d] <- i

                if d = rank - 1 then
                    result.SetValue(item.Deserialize(elementType), index)
                else
                    fill item (d + 1)

                i <- i + 1

        fill e 0
        box result

    let convert (e: JsonElement) (target: obj | null) : obj | null =
        match target with
        | null -> natural e
        | target ->
            let t = target.GetType()

            if t.IsArray && t.GetArrayRank() > 1 then
                toMultiArray e t
            else
                match e.Deserialize(t) with
                | null when e.ValueKind <> JsonValueKind.Null -> raise (JsonException "no value")
                | v -> v

/// A set of child positions of one node: a bit mask, or an array for nodes of more than 64 children.
[<Struct; NoEquality; NoComparison>]
type internal ChildSet =
    val mutable private bits: uint64
    val private wide: bool array

    new(count: int) =
        { bits = 0UL
          wide = if count > 64 then Array.zeroCreate count else [||] }

    member s.Contains(i: int) =
        if s.wide.Length > 0 then
            s.wide.[i]
        else
            s.bits &&& (1UL <<< i) <> 0UL

    member s.Add(i: int) =
        if s.wide.Length > 0 then
            s.wide.[i] <- true
        else
            s.bits <- s.bits ||| (1UL <<< i)


module internal Replacing =
    type Context =
        {
            /// replace depth key current newValue, for the child key of the node at depth (the trail
            /// gives its path if a problem is reported).
            Replace: int -> PathKey -> obj | null -> obj | null -> obj | null
            Strict: bool
            Errors: ResizeArray<StateError>
            Trail: PureDict.Trail
            /// The walk of the pure dict over one packed node, replayed once checked (see packed):
            /// leaf index (-1: a trail push), depth, the given key, the state key, the new value.
            Steps: ResizeArray<struct (int * int * (obj | null) * PathKey * (obj | null))>
        }

    let private failed (path: KeyPath) (target: obj | null) (e: exn) =
        let t =
            match target with
            | null -> typeof<obj>
            | x -> x.GetType()

        StateError.ConversionFailed(path, t, e.Message)

    /// The default replace: variables keep their type and metadata, JSON values take the type of
    /// the value they replace.
    let defaultReplace
        (errors: ResizeArray<StateError>)
        (trail: PureDict.Trail)
        (depth: int)
        (key: PathKey)
        (current: obj | null)
        (value: obj | null)
        =
        let target =
            match current with
            | :? Variable as v -> v.Value
            | x -> x

        let converted =
            try
                match value with
                | :? JsonElement as e -> JsonLeaf.convert e target
                | :? JsonNode as n -> JsonLeaf.convert (JsonSerializer.SerializeToElement n) target
                | v -> v
            with
            | :? JsonException
            | :? InvalidOperationException
            | :? FormatException
            | :? OverflowException
            | :? NotSupportedException
            | :? ArgumentException as e ->
                errors.Add(failed (trail.Path(depth, key)) target e)
                value

        match current with
        | :? Variable as v -> box (v.WithValue converted)
        | _ -> converted

    let private resolve (keys: PathKey array) (k: obj) : int =
        match k with
        | :? string as s ->
            let i = Chunk.search keys (PathKey.FromName s)

            if i >= 0 then
                i
            else
                match PureDict.canonicalInt s with
                | ValueSome n -> max -1 (Chunk.search keys (PathKey.FromIndex n))
                | ValueNone -> -1
        | :? int as n -> max -1 (Chunk.search keys (PathKey.FromIndex n))
        | :? PathKey as p -> max -1 (Chunk.search keys p)
        | _ -> -1

    /// Whether the pure-dict key k names keys.[e] directly (an equal string for a name, an equal int
    /// for an index).
    let private isKeyAt (keys: PathKey array) (e: int) (k: obj) : bool =
        e < keys.Length
        && (match k with
            | :? string as s -> not keys.[e].IsIndex && String.Equals(keys.[e].Name, s)
            | :? int as n -> keys.[e].IsIndex && keys.[e].Index = n
            | _ -> false)

    /// resolve for the entry at position e of its dict. A pure dict made by ToPureDict lists a
    /// node's keys in the node's order, so the key at the same position is tried before a search;
    /// a match there is the one the search would find first.
    let private resolveAt (keys: PathKey array) (e: int) (k: obj) : int =
        if isKeyAt keys e k then e else resolve keys k

    let private unknownLeaves (ctx: Context) (depth: int) (k: obj) (v: obj | null) =
        PureDict.iterLeaves (ctx.Trail.GivenRev(depth, k)) v (fun keys -> ctx.Errors.Add(StateError.UnknownPath keys))

    let private missingLeaves (ctx: Context) (path: KeyPath) (v: obj | null) =
        match v with
        | :? State as s -> Node.iterLeaves path s (fun p _ -> ctx.Errors.Add(StateError.MissingPath p))
        | _ -> ctx.Errors.Add(StateError.MissingPath path)

    /// Checks that the pure dict's entries for a node of a flat or packed shape (leaves from start)
    /// name children of the shape, each once, a leaf with a leaf value and a sub-state with a
    /// non-empty dict, and (strict) every child; logs the walk into ctx.Steps. False at the first
    /// entry that is anything else, before any replace call.
    let rec private check
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (shape: Shape)
        (start: int)
        : bool =
        let mutable named = 0UL
        let mutable ok = true
        let mutable e = 0

        while ok && e < count do
            let struct (k, v) = entries.At(depth).[e]
            let sub = entries.Fill(depth + 1, v)
            let i = resolveAt shape.Keys e k

            if sub = 0 || i < 0 || named &&& (1UL <<< i) <> 0UL then
                ok <- false
            else
                named <- named ||| (1UL <<< i)

                match shape.Kid i with
                | null when sub < 0 -> ctx.Steps.Add(struct (start + shape.StartOf i, depth, null, shape.Keys.[i], v))
                | kid when not (isNull kid) && sub > 0 ->
                    ctx.Steps.Add(struct (-1, depth, k, shape.Keys.[i], null))
                    ok <- check ctx entries (depth + 1) sub kid (start + shape.StartOf i)
                | _ -> ok <- false

            e <- e + 1

        let n = shape.Keys.Length

        ok
        && (not ctx.Strict
            || named = (if n = 64 then UInt64.MaxValue else (1UL <<< n) - 1UL))

    /// inOrder's check of the entry at position e of a node's dict: it names the node's key e, and
    /// holds a leaf value for a leaf, and for a sub-tree a Dictionary<obj, obj> (what ToPureDict
    /// makes) that fits the sub-tree in turn.
    let rec private fitsAt
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (shape: Shape)
        (e: int)
        (k: obj)
        (v: obj | null)
        : bool =
        isKeyAt shape.Keys e k
        && (match shape.Kid e with
            | null -> entries.Fill(depth + 1, v) < 0
            | kid ->
                match v with
                | :? Dictionary<obj, obj | null> as d -> fits ctx entries (depth + 1) kid d
                | _ -> false)

    /// Whether a sub-dict lists the sub-tree's keys in order (every one when strict), each entry
    /// fitting (fitsAt). A packed shape is at most Shape.MaxDepth deep, so the recursion is bounded.
    and private fits
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (shape: Shape)
        (d: Dictionary<obj, obj | null>)
        : bool =
        let mutable ok = d.Count > 0 && (not ctx.Strict || d.Count = shape.Keys.Length)

        let mutable e = 0
        let mutable it = d.GetEnumerator()

        while ok && it.MoveNext() do
            ok <- fitsAt ctx entries depth shape e it.Current.Key it.Current.Value
            e <- e + 1

        ok

    /// inOrder's replace of the entry at position e of a node (leaves from start): the replace calls
    /// and trail pushes of the general walk, in the same order; whether a replace returned a state.
    let rec private replaceAt
        (ctx: Context)
        (depth: int)
        (shape: Shape)
        (start: int)
        (leaves: (obj | null) array)
        (out: (obj | null) array)
        (e: int)
        (k: obj)
        (v: obj | null)
        : bool =
        let at = start + shape.StartOf e

        match shape.Kid e with
        | null ->
            let r = ctx.Replace depth shape.Keys.[e] leaves.[at] v
            out.[at] <- r
            r :? State
        | kid ->
            ctx.Trail.Push(depth, k, shape.Keys.[e])
            replaceIn ctx (depth + 1) kid at leaves out (nonNull v :?> Dictionary<obj, obj | null>)

    and private replaceIn ctx depth shape start leaves out (d: Dictionary<obj, obj | null>) : bool =
        let mutable grafts = false
        let mutable e = 0
        let mutable it = d.GetEnumerator()

        while it.MoveNext() do
            if replaceAt ctx depth shape start leaves out e it.Current.Key it.Current.Value then
                grafts <- true

            e <- e + 1

        grafts

    /// packed for a node whose pure dict lists, at every level, the node's keys in order (what
    /// ToPureDict makes; every key when strict): one pass to check and one to replace, reading the
    /// sub-dicts directly, with no step log. The pure dict must not change during the call (the
    /// second pass reads it again). ValueNone for anything else, which packed then handles.
    let private inOrder
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (s: State)
        : struct (State * bool) voption =
        let shape = s.Shape
        // The check fills the buffers below depth only, so the node's entries stay put.
        let given = entries.At depth
        let mutable ok = count > 0 && (not ctx.Strict || count = shape.Keys.Length)
        let mutable e = 0

        while ok && e < count do
            let struct (k, v) = given.[e]
            ok <- fitsAt ctx entries depth shape e k v
            e <- e + 1

        if not ok then
            ValueNone
        else
            let leaves = s.LeafArray
            let out = Arrays.copy leaves
            let mutable grafts = false

            for e in 0 .. count - 1 do
                let struct (k, v) = given.[e]

                if replaceAt ctx depth shape 0 leaves out e k v then
                    grafts <- true

            ValueSome(struct (Node.ofShapeLeaves shape out grafts, true))

    /// node for any flat or packed node when the pure dict fits its shape (check): the leaves
    /// replaced in one copy of its leaf array, with the replace calls and trail pushes of the general
    /// walk in the same order. ValueNone otherwise, and node then takes the general walk, which
    /// reports why.
    let private logged
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (s: State)
        : struct (State * bool) voption =
        ctx.Steps.Clear()

        if not (check ctx entries depth count s.Shape 0) then
            ValueNone
        else
            let leaves = s.LeafArray
            let out = Arrays.copy leaves
            let mutable replaced = false
            let mutable grafts = false

            for struct (leaf, d, given, key, value) in ctx.Steps do
                if leaf < 0 then
                    ctx.Trail.Push(d, given, key)
                else
                    out.[leaf] <- ctx.Replace d key leaves.[leaf] value
                    replaced <- true

                    match out.[leaf] with
                    | :? State -> grafts <- true
                    | _ -> ()

            ctx.Steps.Clear()

            if not replaced then
                ValueSome(struct (s, false))
            else
                ValueSome(struct (Node.ofShapeLeaves s.Shape out grafts, true))

    /// node for a flat or packed node when the pure dict fits its shape: inOrder, else logged.
    let private packed
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (s: State)
        : struct (State * bool) voption =
        match inOrder ctx entries depth count s with
        | ValueSome result -> ValueSome result
        | ValueNone -> logged ctx entries depth count s

    /// The node with the pure dict's leaves replaced (null when no leaf is left), and whether the
    /// pure dict mentions any leaf here: sub-dicts without leaves are ignored entirely, so only an
    /// entry that mentions a leaf names a child (for strict mode and for duplicate keys). The pure
    /// dict's entries for this node are the first count of entries.At depth.
    let rec node
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (s: State)
        : struct (State * bool) =
        match
            if s.HasShape then
                packed ctx entries depth count s
            else
                ValueNone
        with
        | ValueSome result -> result
        | ValueNone -> plain ctx entries depth count s

    and private plain
        (ctx: Context)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (s: State)
        : struct (State * bool) =
        let struct (keys, values) = s.Children()
        let updated = Arrays.copy values
        let mutable named = ChildSet(keys.Length)
        let mutable mentioned = false
        let mutable changed = false
        let mutable emptied = false

        for e in 0 .. count - 1 do
            let struct (k, v) = entries.At(depth).[e]
            let sub = entries.Fill(depth + 1, v)
            let i = if sub = 0 then -2 else resolveAt keys e k

            if i = -2 then
                () // An empty sub-dict mentions no leaf.
            elif i < 0 then
                let before = ctx.Errors.Count
                unknownLeaves ctx depth k v
                mentioned <- mentioned || ctx.Errors.Count > before
            elif named.Contains i then
                // A second entry for a named child collides with the first, unless it has no leaves.
                if sub < 0 || entries.HasLeaves(depth + 1, sub) then
                    ctx.Errors.Add(StateError.DuplicateKey(List.rev (ctx.Trail.GivenRev(depth, k))))
                    mentioned <- true
            else
                match values.[i] with
                | :? State as child when sub >= 0 ->
                    ctx.Trail.Push(depth, k, keys.[i])
                    let struct (r, m) = Deep.guard (fun () -> node ctx entries (depth + 1) sub child)

                    if m then
                        named.Add i
                        mentioned <- true

                    if not (obj.ReferenceEquals(r, child)) then
                        changed <- true

                        if Node.isNull' r then
                            emptied <- true
                            updated.[i] <- box Node.empty
                        else
                            updated.[i] <- box r
                | _ when sub >= 0 ->
                    let before = ctx.Errors.Count
                    unknownLeaves ctx depth k v

                    if ctx.Errors.Count > before then
                        named.Add i
                        mentioned <- true
                | :? State as child ->
                    named.Add i
                    mentioned <- true
                    ctx.Errors.Add(StateError.UnknownPath(List.rev (ctx.Trail.GivenRev(depth, k))))

                    if ctx.Strict then
                        missingLeaves ctx (ctx.Trail.Path(depth, keys.[i])) child
                | leaf ->
                    named.Add i
                    mentioned <- true
                    updated.[i] <- ctx.Replace depth keys.[i] leaf v
                    changed <- true

        // A node the pure dict does not mention is reported whole by its parent's strict check.
        if ctx.Strict && (mentioned || depth = 0) then
            for i in 0 .. keys.Length - 1 do
                if not (named.Contains i) then
                    missingLeaves ctx (ctx.Trail.Path(depth, keys.[i])) values.[i]

        let result =
            if not changed then
                Node.dropEmpties s
            elif not emptied && not s.HasEmpty then
                // Same keys, new values: a flat node shares its keys array with the input.
                State.OfArrays(keys, updated)
            else
                // A flat round trip: empty sub-states go.
                Node.withoutEmpties keys updated

        struct (result, mentioned)

module internal Restoring =
    /// template: None restores every canonical integer string; Some t converts only where t's node
    /// (ValueNone below a template leaf or absent node) has the int key.
    /// The pure dict's entries for this node are the first count of entries.At depth.
    let rec dict
        (template: State voption option)
        (trail: PureDict.Trail)
        (entries: PureDict.EntryBuffers)
        (depth: int)
        (count: int)
        (errors: ResizeArray<StateError>)
        : Dictionary<obj, obj | null> =
        let result = Dictionary<obj, obj | null>(count)

        for e in 0 .. count - 1 do
            let struct (k, v) = entries.At(depth).[e]

            let key =
                match k with
                | :? string as s ->
                    match template with
                    | None ->
                        match PureDict.canonicalInt s with
                        | ValueSome i -> ValueSome(PathKey.FromIndex i)
                        | ValueNone -> ValueSome(PathKey.FromName s)
                    | Some(ValueSome t) ->
                        match PureDict.canonicalInt s with
                        | ValueSome i when
                            (let mutable x = null
                             t.TryGet(PathKey.FromIndex i, &x) && not (t.TryGet(PathKey.FromName s, &x)))
                            ->
                            ValueSome(PathKey.FromIndex i)
                        | _ -> ValueSome(PathKey.FromName s)
                    | Some ValueNone -> ValueSome(PathKey.FromName s)
                | k -> PureDict.toKey k

            match key with
            | ValueNone ->
                errors.Add(
                    StateError.InvalidPureDict(
                        List.rev (trail.GivenRev(depth, k)),
                        $"the key {k} is neither an int nor a string"
                    )
                )
            | ValueSome key ->
                let sub = entries.Fill(depth + 1, v)

                let value: (obj | null) voption =
                    if sub >= 0 then
                        let childTemplate =
                            match template with
                            | None -> None
                            | Some(ValueSome t) ->
                                let mutable x = null

                                if t.TryGet(key, &x) then
                                    match x with
                                    | :? State as c -> Some(ValueSome c)
                                    | _ -> Some ValueNone
                                else
                                    Some ValueNone
                            | Some ValueNone -> Some ValueNone

                        trail.Push(depth, k, key)

                        let d =
                            Deep.guard (fun () -> dict childTemplate trail entries (depth + 1) sub errors)

                        if d.Count = 0 then ValueNone else ValueSome(box d)
                    else
                        ValueSome v

                match value with
                | ValueNone -> ()
                | ValueSome value ->
                    let o = PureDict.keyObj key

                    if not (result.TryAdd(o, value)) then
                        errors.Add(StateError.IntKeyCollision(trail.Path(depth, key)))

        result

    /// dict None of a tree of Dictionary<string, obj | null> nodes (what JSON deserializes to), in
    /// one pass without entry buffers or error trail: it cannot fail, since distinct strings make
    /// distinct keys. Null when some value is another kind of dictionary (the general walk then
    /// starts over).
    let rec ofStrings (d: Dictionary<string, obj | null>) : Dictionary<obj, obj | null> | null =
        let result = Dictionary<obj, obj | null>(d.Count)
        let mutable ok = true
        let mutable e = d.GetEnumerator()

        while ok && e.MoveNext() do
            let kv = e.Current

            let key =
                match PureDict.canonicalInt kv.Key with
                | ValueSome i -> PureDict.boxInt i
                | ValueNone -> kv.Key

            match kv.Value with
            | :? Dictionary<string, obj | null> as child ->
                match Deep.guard (fun () -> ofStrings child) with
                | null -> ok <- false
                | c ->
                    if c.Count > 0 then
                        result.Add(key, c)
            | v when PureDict.isCommonLeaf v -> result.Add(key, v)
            | _ -> ok <- false

        if ok then result else null

/// The allocation-free walk that benchmarks use as their floor: it touches every leaf.
module internal Walk =
    let rec private touch (s: State) : int =
        match s.Tree with
        | null when s.IsPacked ->
            // The same test per leaf as below: it reads every leaf's header, as a walk that looks
            // at leaves must.
            let mutable n = 0

            for v in s.LeafArray do
                match v with
                | :? State -> ()
                | null -> ()
                | _ -> n <- n + 1

            n
        | null ->
            let values = s.FlatValues
            let mutable n = 0

            for v in values do
                match v with
                | :? State as c -> n <- n + Deep.guard (fun () -> touch c)
                | null -> ()
                | _ -> n <- n + 1

            n
        | tree ->
            let rec chunk (c: Chunk) =
                let mutable n = 0

                if c.IsLeaf then
                    for v in c.Values do
                        match v with
                        | :? State as child -> n <- n + Deep.guard (fun () -> touch child)
                        | null -> ()
                        | _ -> n <- n + 1
                else
                    for child in c.Children do
                        n <- n + chunk child

                n

            chunk tree

    /// The number of non-null leaves, found by visiting each.
    [<CompiledName("TouchLeaves")>]
    let touchLeaves (s: State) = touch s

[<RequireQualifiedAccess>]
module State =
    [<CompiledName("Empty")>]
    let empty = State.EmptyState

    let private child (v: obj | null) =
        match v with
        | :? State as s -> Child.Sub s
        | leaf -> Child.Leaf leaf

    /// A node from a key → value dictionary (values already normalised).
    let private ofDictionary (d: Dictionary<PathKey, obj | null>) =
        let keys = Array.zeroCreate d.Count
        let values = Array.zeroCreate d.Count
        d.Keys.CopyTo(keys, 0)
        d.Values.CopyTo(values, 0)
        Array.Sort(keys, values)
        State.OfArrays(keys, values)

    /// A value as a sub-tree when it is one: a State, a wrapper of one, or a dictionary.
    let rec private normalise (v: obj | null) : obj | null =
        match v with
        | :? State -> v
        | :? IStateWrapper as w -> box (w.Unwrap())
        | :? string -> v
        | _ ->
            match PureDict.tryEntries v with
            | ValueSome entries ->
                let d = Dictionary<PathKey, obj | null>(entries.Length)

                for struct (k, x) in entries do
                    match PureDict.toKey k with
                    | ValueSome key -> d.[key] <- Deep.guard (fun () -> normalise x)
                    | ValueNone ->
                        invalidArg
                            "entries"
                            $"A nested dictionary has the key {k}, which is neither an int nor a string."

                box (ofDictionary d)
            | ValueNone -> v

    [<CompiledName("OfSeq")>]
    let ofSeq (entries: (PathKey * obj | null) seq) =
        ArgumentNullException.ThrowIfNull(entries, nameof entries)
        let d = Dictionary<PathKey, obj | null>()

        for (k, v) in entries do
            d.[k] <- normalise v

        ofDictionary d

    [<CompiledName("OfList")>]
    let ofList (entries: (PathKey * obj | null) list) = ofSeq entries

    [<CompiledName("Count")>]
    let count (state: State) = state.Count

    [<CompiledName("LeafCount")>]
    let leafCount (state: State) = state.LeafCount

    [<CompiledName("ToSeq")>]
    let toSeq (state: State) =
        seq {
            let struct (keys, values) = state.Children()

            for i in 0 .. keys.Length - 1 do
                yield keys.[i], child values.[i]
        }

    [<CompiledName("TryFind")>]
    let tryFind (key: PathKey) (state: State) =
        let mutable v = null
        if state.TryGet(key, &v) then Some(child v) else None

    [<CompiledName("TryFindPath")>]
    let tryFindPath (path: KeyPath) (state: State) =
        ArgumentNullException.ThrowIfNull(path, nameof path)
        let keys = path.ToArray()
        let mutable current: obj | null = box state
        let mutable found = true
        let mutable i = 0

        while found && i < keys.Length do
            match current with
            | :? State as s ->
                let mutable v = null
                found <- s.TryGet(keys.[i], &v)
                current <- v
            | _ -> found <- false

            i <- i + 1

        if found then Some(child current) else None

    [<CompiledName("ContainsKey")>]
    let containsKey (key: PathKey) (state: State) =
        let mutable v = null
        state.TryGet(key, &v)

    [<CompiledName("SetItem")>]
    let set (path: KeyPath) (value: obj | null) (state: State) =
        ArgumentNullException.ThrowIfNull(path, nameof path)

        if path.Count = 0 then
            invalidArg (nameof path) "The empty path names the root, which cannot be set to a leaf."

        let value = normalise value
        let keys = path.ToArray()
        let d = keys.Length
        let nodes = Array.zeroCreate d
        nodes.[0] <- state
        // The level of a packed node in which the path is a leaf: set there in its leaf array.
        let mutable updated = Unchecked.defaultof<State>
        let mutable top = d - 1
        let mutable j = 0

        while j <= top do
            if nodes.[j].IsPacked then
                updated <- Node.setPacked nodes.[j] keys j value

            if not (Node.isNull' updated) then
                top <- j - 1
            elif j < d - 1 then
                let mutable v = null

                if nodes.[j].TryGet(keys.[j], &v) then
                    match v with
                    | :? State as c -> nodes.[j + 1] <- c
                    | _ ->
                        invalidArg
                            (nameof path)
                            $"Cannot set {path.ToTupleString()}: {path.Prefix(j + 1).ToTupleString()} is a leaf, not a sub-state."
                else
                    nodes.[j + 1] <- empty

            j <- j + 1

        if Node.isNull' updated then
            updated <- Node.withChild nodes.[d - 1] keys.[d - 1] value
            top <- d - 2

        for j in top .. -1 .. 0 do
            updated <- Node.withChild nodes.[j] keys.[j] (box updated)

        updated

    [<CompiledName("Remove")>]
    let remove (path: KeyPath) (state: State) =
        ArgumentNullException.ThrowIfNull(path, nameof path)
        let keys = path.ToArray()
        let d = keys.Length

        if d = 0 then
            state
        else
            let nodes = Array.zeroCreate d
            nodes.[0] <- state
            let mutable present = true
            let mutable j = 0

            while present && j < d - 1 do
                let mutable v = null

                match nodes.[j].TryGet(keys.[j], &v), v with
                | true, (:? State as c) -> nodes.[j + 1] <- c
                | _ -> present <- false

                j <- j + 1

            if not present || not (containsKey keys.[d - 1] nodes.[d - 1]) then
                state
            else
                let mutable updated = Node.withoutChild nodes.[d - 1] keys.[d - 1]

                for j in d - 2 .. -1 .. 0 do
                    updated <- Node.withChild nodes.[j] keys.[j] updated

                updated

    [<CompiledName("Flatten")>]
    let flatten (state: State) =
        let result = Array.zeroCreate state.LeafCount
        FlatWriter(result).Walk(KeyPath.Empty, state)
        result

    /// The pairs a grafted state stands for: its leaves and its empty sub-states, under prefix.
    let rec private graft (prefix: KeyPath) (s: State) (add: KeyPath -> obj | null -> unit) : unit =
        if s.Count = 0 then
            add prefix (box empty)
        else
            let struct (keys, values) = s.Children()

            for i in 0 .. keys.Length - 1 do
                match values.[i] with
                | :? State as c -> Deep.guard (fun () -> graft (prefix.Append keys.[i]) c add)
                | leaf -> add (prefix.Append keys.[i]) leaf

    /// Builds the state of pairs in path order, adding the builder's errors to errors. With check,
    /// ValueNone as soon as a pair is not plain or out of order, so that an array from Flatten is
    /// checked in the same pass that builds it.
    let private build
        (pairs: struct (KeyPath * obj | null) array)
        (check: bool)
        (errors: ResizeArray<StateError>)
        : State voption =
        let builder = SortedBuilder.Rent()
        let mutable buffer = Array.zeroCreate<PathKey> 16
        let mutable last = KeyPath.Empty
        let mutable plain = true
        let mutable i = 0

        while plain && i < pairs.Length do
            let struct (path, value) = pairs.[i]

            if check && not (SortedBuilder.IsPlain(path, value)) then
                plain <- false
            else
                // Siblings (from Flatten) share their parent instance: only the last key changes.
                let sameParent = obj.ReferenceEquals(path.ParentOrNull, last.ParentOrNull)

                if
                    check
                    && (if sameParent then
                            path.LastKey.CompareTo last.LastKey < 0
                        else
                            path.CompareTo last < 0)
                then
                    plain <- false
                else
                    let d = path.Count

                    if buffer.Length < d then
                        buffer <- Array.zeroCreate (2 * d)

                    if sameParent then
                        buffer.[d - 1] <- path.LastKey
                    else
                        let mutable p = path

                        for j in d - 1 .. -1 .. 0 do
                            buffer.[j] <- p.LastKey
                            p <- nonNull p.ParentOrNull

                    let taken = builder.Add(pairs, i, buffer, sameParent)
                    // After a replay the buffer keeps the keys of its first pair: a sibling of its
                    // last pair is a child of the replayed node (see TryReplay), and those keys are
                    // right up to that node.
                    let struct (p, _) = pairs.[i + taken - 1]
                    last <- p
                    i <- i + taken

        let result =
            if not plain then
                ValueNone
            else
                errors.AddRange builder.Errors
                // Finishing after errors would only make a state nobody sees.
                if errors.Count > 0 then
                    ValueSome State.EmptyState
                else
                    ValueSome(builder.Finish())

        builder.Return()
        result

    [<CompiledName("OfFlat")>]
    let ofFlat (pairs: struct (KeyPath * obj | null) seq) =
        ArgumentNullException.ThrowIfNull(pairs, nameof pairs)
        let errors = ResizeArray<StateError>()

        let direct =
            match pairs with
            | :? (struct (KeyPath * obj | null) array) as a -> build a true errors
            | _ -> ValueNone

        let built =
            match direct with
            | ValueSome s -> s
            | ValueNone ->
                let items = ResizeArray<struct (KeyPath * obj | null)>()
                let mutable sorted = true
                let mutable previous = KeyPath.Empty

                let add (path: KeyPath) (value: obj | null) =
                    if sorted && path.CompareTo previous < 0 then
                        sorted <- false

                    previous <- path
                    items.Add(struct (path, value))

                for struct (path, value) in pairs do
                    if isNull (box path) then
                        nullArg (nameof pairs)
                    elif path.Count = 0 then
                        errors.Add StateError.EmptyPath
                    else
                        match value with
                        | :? State as s -> graft path s add
                        | :? IStateWrapper as w -> graft path (w.Unwrap()) add
                        | v -> add path v

                let ordered =
                    if sorted then
                        items.ToArray()
                    else
                        // Sort by path; equal paths keep their input order so that the later pair wins.
                        let a = items.ToArray()
                        let index = Array.init a.Length id

                        Array.Sort(
                            index,
                            Comparison(fun i j ->
                                let struct (p, _) = a.[i]
                                let struct (q, _) = a.[j]
                                let c = p.CompareTo q
                                if c <> 0 then c else compare i j)
                        )

                        index |> Array.map (fun i -> a.[i])

                (build ordered false errors).Value

        if errors.Count > 0 then
            Error(List.ofSeq errors)
        else
            Ok built

    let private checkFilter (filter: Filter) =
        if isNull (box filter) then
            nullArg "filters"

    [<CompiledName("Filter")>]
    let filter (filter: Filter) (state: State) =
        checkFilter filter

        let parts = Partition.run (Partition.ofFilters [| filter |] false) state

        Node.orEmpty parts.[0]

    let private partition (filters: Filter list) (keepRest: bool) (state: State) =
        let array = List.toArray filters

        if array.Length = 0 then
            invalidArg (nameof filters) "At least one filter is required."

        Array.iter checkFilter array

        match Partition.everythingErrors array with
        | [] ->
            let parts = Partition.run (Partition.ofFilters array keepRest) state
            let groups = parts.[.. array.Length - 1] |> Array.map Node.orEmpty |> List.ofArray

            if keepRest && not (Node.isNull' parts.[array.Length]) then
                Error [ StateError.NonExhaustiveSplit parts.[array.Length] ]
            else
                Ok groups
        | errors -> Error errors

    [<CompiledName("FilterMany")>]
    let filterMany (filters: Filter list) (state: State) = partition filters false state

    [<CompiledName("Split")>]
    let split (filters: Filter list) (state: State) = partition filters true state

    [<CompiledName("Merge")>]
    let merge (states: State list) =
        let inputs = states |> List.filter (fun s -> s.Count > 0) |> Array.ofList

        match inputs.Length with
        | 0 -> empty
        | 1 -> inputs.[0]
        | _ -> Node.orEmpty (Merging.mergeNodes inputs)

    [<CompiledName("MergeWith")>]
    let mergeWith (conflict: MergeConflict) (states: State list) =
        match conflict with
        | MergeConflict.Error ->
            let inputs = states |> List.filter (fun s -> s.Count > 0) |> Array.ofList
            let found = ResizeArray()

            if inputs.Length >= 2 then
                Merging.conflicts inputs KeyPath.Empty found

            if found.Count > 0 then
                Error [ for p in found -> StateError.MergeConflictAt p ]
            else
                Ok(merge states)
        | _ -> Ok(merge states)

    let rec private diffNode (shared: KeyArrays) (s: State) (other: State) : State =
        if s.LeafCount = 0 then
            Unchecked.defaultof<State>
        else
            let struct (keys, values) = s.Children()
            let picks = Picks()

            for i in 0 .. keys.Length - 1 do
                let mutable o = null
                let inOther = other.TryGet(keys.[i], &o)

                match values.[i] with
                | :? State as c ->
                    let d =
                        match o with
                        | :? State as oc -> Deep.guard (fun () -> diffNode shared c oc)
                        | _ -> Node.dropEmpties c

                    if not (Node.isNull' d) then
                        picks.Add(i, d, obj.ReferenceEquals(d, c), values)
                | leaf ->
                    // A leaf goes when the other state has a leaf (null too) at its path; a sub-state
                    // there removes nothing.
                    if not inOther || o :? State then
                        picks.Add(i, leaf, true, values)

            picks.Build(s, keys, values, shared)

    [<CompiledName("Diff")>]
    let diff (other: State) (state: State) =
        if other.Count = 0 then
            state
        else
            Node.orEmpty (diffNode (KeyArrays()) state other)

    /// withPath: whether f looks at the node path (when not, no path is built).
    let rec private mapNode
        (f: KeyPath -> PathKey -> obj | null -> obj | null)
        (withPath: bool)
        (nodePath: KeyPath)
        (s: State)
        : State =
        if s.LeafCount = 0 then Unchecked.defaultof<State>
        else if s.HasShape then mapPacked f withPath nodePath s
        else mapPlain f withPath nodePath s

    /// Map of a flat or packed node: the same shape with new leaves, unless f returned a sub-state for a
    /// leaf, which is then grafted (node by node, as for a plain node).
    and private mapPacked f withPath (nodePath: KeyPath) (s: State) : State =
        let leaves = s.LeafArray
        let out = Array.zeroCreate leaves.Length
        let mutable at = 0
        let grafts = mapShape f withPath nodePath s.Shape leaves out &at
        Node.ofShapeLeaves s.Shape out grafts

    /// out.[at ..] <- f over the leaves of shape; true when f returned a sub-state.
    and private mapShape
        f
        withPath
        (nodePath: KeyPath)
        (shape: Shape)
        leaves
        (out: (obj | null) array)
        (at: byref<int>)
        =
        let mutable grafts = false

        for i in 0 .. shape.Keys.Length - 1 do
            match shape.Kid i with
            | null ->
                let v = f nodePath shape.Keys.[i] (Array.get leaves at)
                out.[at] <- v
                at <- at + 1

                match v with
                | :? State -> grafts <- true
                | _ -> ()
            | kid ->
                let path =
                    if withPath then
                        nodePath.Append shape.Keys.[i]
                    else
                        nodePath

                grafts <- mapShape f withPath path kid leaves out &at || grafts

        grafts

    and private mapPlain f withPath (nodePath: KeyPath) (s: State) : State =
        let struct (keys, values) = s.Children()
        let out = Array.zeroCreate keys.Length

        for i in 0 .. keys.Length - 1 do
            out.[i] <-
                match values.[i] with
                | :? State as c ->
                    let childPath = if withPath then nodePath.Append keys.[i] else nodePath
                    box (Node.orEmpty (Deep.guard (fun () -> mapNode f withPath childPath c)))
                | leaf -> f nodePath keys.[i] leaf

        if not s.HasEmpty then
            // Same keys, new values: a flat node shares its keys array with the input.
            State.OfArrays(keys, out)
        else
            Node.withoutEmpties keys out

    [<CompiledName("Map")>]
    let map (f: KeyPath -> obj | null -> obj | null) (state: State) =
        Node.orEmpty (mapNode (fun nodePath key leaf -> f (nodePath.Append key) leaf) true KeyPath.Empty state)

    [<CompiledName("Select")>]
    let select (f: obj | null -> obj | null) (state: State) =
        Node.orEmpty (mapNode (fun _ _ leaf -> f leaf) false KeyPath.Empty state)

    [<CompiledName("Where")>]
    let where (predicate: obj | null -> bool) (state: State) =
        let c: Partition.Classifier =
            { Slots = 1
              Leaf = Func<_, _, _, _>(fun _ _ leaf -> if predicate leaf then 0 else 1)
              Node = None
              NeedsPath = false }

        Node.orEmpty (Partition.run c state).[0]

    let private onlyIn (inFirst: bool) (path: KeyPath) (v: obj | null) (errors: ResizeArray<StateError>) =
        match v with
        | :? State as s -> Node.iterLeaves path s (fun p _ -> errors.Add(StateError.ZipMismatch(p, inFirst)))
        | _ -> errors.Add(StateError.ZipMismatch(path, inFirst))

    /// Appends a zipped child; keys stays null (a's keys are shared) while the output keeps every key of a.
    let private keepZipped
        (ka: PathKey array)
        (keys: byref<PathKey array | null>)
        (values: (obj | null) array)
        (count: byref<int>)
        (key: PathKey)
        (value: obj | null)
        =
        match keys with
        | null ->
            if not (ka.[count].Equals key) then
                let k = Array.zeroCreate ka.Length
                Array.blit ka 0 k 0 count
                k.[count] <- key
                keys <- k
        | k -> k.[count] <- key

        values.[count] <- value
        count <- count + 1

    /// The zipped node (null when no leaf is left or on errors). The node is at depth; the trail holds
    /// the keys above it, for error paths only.
    let rec private zipNode
        (f: OptimizedClosures.FSharpFunc<obj | null, obj | null, obj | null>)
        (trail: PureDict.Trail)
        (depth: int)
        (a: State)
        (b: State)
        (errors: ResizeArray<StateError>)
        : State =
        if a.HasShape && b.HasShape && Shape.Same(a.Shape, b.Shape) then
            // Same shape: no path is in one only. Like the walk below, f is not called once an
            // error is known (the result is then dropped).
            if errors.Count > 0 then
                Unchecked.defaultof<State>
            else
                let x = a.LeafArray
                let y = b.LeafArray
                let out = Array.zeroCreate x.Length
                let mutable grafts = false

                for i in 0 .. x.Length - 1 do
                    out.[i] <- f.Invoke(x.[i], y.[i])

                    match out.[i] with
                    | :? State -> grafts <- true
                    | _ -> ()

                Node.ofShapeLeaves a.Shape out grafts
        else
            zipPlain f trail depth a b errors

    and private zipPlain
        (f: OptimizedClosures.FSharpFunc<obj | null, obj | null, obj | null>)
        (trail: PureDict.Trail)
        (depth: int)
        (a: State)
        (b: State)
        (errors: ResizeArray<StateError>)
        : State =
        let struct (ka, va) = a.Children()
        let struct (kb, vb) = b.Children()
        // On success the output has a's keys, unless a pair of sub-states without leaves drops out:
        // keys stays null (and a's array is shared) until that happens.
        let mutable keys: PathKey array | null = null
        let values = Array.zeroCreate<obj | null> ka.Length
        let mutable count = 0

        let mutable i = 0
        let mutable j = 0

        while i < ka.Length || j < kb.Length do
            let c =
                if i >= ka.Length then 1
                elif j >= kb.Length then -1
                else ka.[i].CompareTo kb.[j]

            if c < 0 then
                onlyIn true (trail.Path(depth, ka.[i])) va.[i] errors
                i <- i + 1
            elif c > 0 then
                onlyIn false (trail.Path(depth, kb.[j])) vb.[j] errors
                j <- j + 1
            else
                match va.[i], vb.[j] with
                | (:? State as x), (:? State as y) ->
                    trail.Push(depth, null, ka.[i])
                    let r = Deep.guard (fun () -> zipNode f trail (depth + 1) x y errors)

                    if not (Node.isNull' r) then
                        keepZipped ka &keys values &count ka.[i] (box r)
                | (:? State), _
                | _, (:? State) ->
                    let path = trail.Path(depth, ka.[i])
                    onlyIn true path va.[i] errors
                    onlyIn false path vb.[j] errors
                | x, y ->
                    if errors.Count = 0 then
                        keepZipped ka &keys values &count ka.[i] (f.Invoke(x, y))

                i <- i + 1
                j <- j + 1

        if count = 0 || errors.Count > 0 then
            Unchecked.defaultof<State>
        else
            match keys with
            | null when count = ka.Length -> State.OfArrays(ka, values)
            | null -> State.OfArrays(Array.sub ka 0 count, Array.sub values 0 count)
            | k -> State.OfArrays(Array.sub k 0 count, Array.sub values 0 count)

    [<CompiledName("Zip")>]
    let zip (f: obj | null -> obj | null -> obj | null) (first: State) (second: State) =
        let errors = ResizeArray()
        let f = OptimizedClosures.FSharpFunc<_, _, _>.Adapt f
        let r = zipNode f (PureDict.Trail()) 0 first second errors

        if errors.Count > 0 then
            Error(List.ofSeq errors)
        else
            Ok(Node.orEmpty r)

    /// toPure of a packed node's shape, its leaves read from at.
    let rec private packedPure
        (extract: obj | null -> obj | null)
        (shape: Shape)
        (leaves: (obj | null) array)
        (at: byref<int>)
        : Dictionary<obj, obj | null> =
        let d = Dictionary<obj, obj | null>(shape.Keys.Length)

        for i in 0 .. shape.Keys.Length - 1 do
            match shape.Kid i with
            | null ->
                d.[PureDict.keyObj shape.Keys.[i]] <- extract leaves.[at]
                at <- at + 1
            | kid -> d.[PureDict.keyObj shape.Keys.[i]] <- packedPure extract kid leaves &at

        d

    let rec private toPure (extract: obj | null -> obj | null) (s: State) : Dictionary<obj, obj | null> =
        if s.IsPacked then
            let mutable at = 0
            packedPure extract s.Shape s.LeafArray &at
        else
            plainPure extract s

    and private plainPure (extract: obj | null -> obj | null) (s: State) : Dictionary<obj, obj | null> =
        let struct (keys, values) = s.Children()
        let d = Dictionary<obj, obj | null>(keys.Length)

        for i in 0 .. keys.Length - 1 do
            match values.[i] with
            | :? State as c ->
                if c.LeafCount > 0 then
                    d.[PureDict.keyObj keys.[i]] <- Deep.guard (fun () -> toPure extract c)
            | leaf -> d.[PureDict.keyObj keys.[i]] <- extract leaf

        d

    [<CompiledName("ToPureDictWith")>]
    let toPureDictWith (extract: obj | null -> obj | null) (state: State) = toPure extract state

    [<CompiledName("ToPureDict")>]
    let toPureDict (state: State) =
        toPure
            (fun leaf ->
                match leaf with
                | :? Variable as v -> v.Value
                | x -> x)
            state

    /// A rented workspace whose entry buffers hold the pure dict's top-level entries at depth 0, with
    /// their count. The caller returns the workspace when its walk is done.
    let private entriesOf (pureDict: obj) =
        ArgumentNullException.ThrowIfNull(pureDict, nameof pureDict)
        let w = PureDict.Workspace.Rent()

        match w.Entries.Fill(0, pureDict) with
        | n when n >= 0 -> Ok(struct (w, n))
        | _ ->
            w.Return()
            Error [ StateError.InvalidPureDict([], $"expected a dictionary, got {pureDict.GetType().Name}") ]

    [<CompiledName("ReplaceByPureDictWith")>]
    let replaceByPureDictWith (options: ReplaceOptions) (pureDict: obj) (state: State) =
        entriesOf pureDict
        |> Result.bind (fun (struct (w, count)) ->
            let errors = ResizeArray()
            let trail = w.Trail

            let replace =
                match options.Replace with
                | Some f -> fun _ _ current value -> f current value
                | None -> Replacing.defaultReplace errors trail

            let ctx: Replacing.Context =
                { Replace = replace
                  Strict = options.Strict
                  Errors = errors
                  Trail = trail
                  Steps = w.Steps }

            let struct (r, _) = Replacing.node ctx w.Entries 0 count state
            w.Return()

            if errors.Count > 0 then
                Error(List.ofSeq errors)
            else
                Ok(Node.orEmpty r))

    [<CompiledName("ReplaceByPureDict")>]
    let replaceByPureDict (pureDict: obj) (state: State) =
        replaceByPureDictWith { Replace = None; Strict = false } pureDict state

    let private restore (template: State voption option) (pureDict: obj) =
        let direct =
            match template, pureDict with
            | None, (:? Dictionary<string, obj | null> as d) -> Restoring.ofStrings d
            | _ -> null

        match direct with
        | null ->
            entriesOf pureDict
            |> Result.bind (fun (struct (w, count)) ->
                let errors = ResizeArray()
                let d = Restoring.dict template w.Trail w.Entries 0 count errors
                w.Return()
                if errors.Count > 0 then Error(List.ofSeq errors) else Ok d)
        | d -> Ok d

    [<CompiledName("RestoreIntPaths")>]
    let restoreIntPaths (pureDict: obj) = restore None pureDict

    [<CompiledName("RestoreIntPathsLike")>]
    let restoreIntPathsLike (template: State) (pureDict: obj) =
        restore (Some(ValueSome template)) pureDict

[<AutoOpen>]
module Syntax =
    let inline (=>) (key: ^K) (value: 'V) : PathKey * obj | null =
        ((^K or PathKey): (static member op_Implicit: ^K -> PathKey) key), box value

    let (|Index|Name|) (key: PathKey) =
        if key.IsIndex then Index key.Index else Name key.Name
