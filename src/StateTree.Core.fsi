// The public surface of the StateTree core. Every entry says what it does and what it costs;
// n is the number of leaves involved, d the depth of a path, k the number of children of a node.
//
// Two namespaces: `StateTree` holds the types both F# and C# users share (keys, paths, variables,
// the merge policy); `StateTree.FSharp` holds the F# algebra (Filter, State and their modules),
// which the C# facade (`src/StateTree.CSharp`) adapts.
namespace StateTree

open System
open System.Collections.Generic

/// A key of a state node: an int index or a string name. Equality is type-strict (0 ≠ "0");
/// order puts every index before every name, indices numerically, names by ordinal comparison.
/// The default value is the index 0.
[<Struct; CustomEquality; CustomComparison>]
type PathKey =
    val private name: string | null
    val private index: int
    /// True for an int key.
    member IsIndex: bool
    /// The int of an index key. Throws InvalidOperationException for a name key.
    member Index: int
    /// The string of a name key. Throws InvalidOperationException for an index key.
    member Name: string
    /// Compares in the total key order (indices before names). O(1) for indices, O(length) for names.
    member CompareTo: other: PathKey -> int
    /// Type-strict equality.
    member Equals: other: PathKey -> bool
    override Equals: other: obj | null -> bool
    override GetHashCode: unit -> int
    /// The digits of an index or the name itself.
    override ToString: unit -> string
    /// Python literal form, as Flax prints keys: ints bare, names in single quotes.
    member ToLiteral: unit -> string
    /// An index key.
    static member FromIndex: index: int -> PathKey
    /// A name key. Throws ArgumentNullException for null.
    static member FromName: name: string -> PathKey
    /// An index key.
    static member op_Implicit: index: int -> PathKey
    /// A name key. Throws ArgumentNullException for null.
    static member op_Implicit: name: string -> PathKey
    static member op_Equality: a: PathKey * b: PathKey -> bool
    static member op_Inequality: a: PathKey * b: PathKey -> bool
    interface IEquatable<PathKey>
    interface IComparable<PathKey>
    interface IComparable

/// An immutable sequence of keys, compared lexicographically (a prefix sorts first).
/// Appending shares the prefix, so the paths of all leaves of a state share their common parts.
[<Sealed>]
type KeyPath =
    /// The root path (no keys).
    static member Empty: KeyPath
    /// A path of the given keys. O(d).
    static member Of: [<ParamArray>] keys: PathKey array -> KeyPath
    /// A path of the given keys. O(d).
    static member OfSeq: keys: PathKey seq -> KeyPath
    /// This path followed by one more key. O(1); shares this path.
    member Append: key: PathKey -> KeyPath
    /// The number of keys. O(1).
    member Count: int
    /// The key at a position. O(d - index).
    member Item: index: int -> PathKey with get
    /// The last key. Throws InvalidOperationException on the empty path. O(1).
    member Last: PathKey
    /// The path without its last key (the empty path's parent is itself). O(1).
    member Parent: KeyPath
    /// The keys in order, in a new array. O(d).
    member ToArray: unit -> PathKey array
    /// True when this path begins with all keys of prefix. O(d).
    member StartsWith: prefix: KeyPath -> bool
    /// Lexicographic comparison in key order; null sorts first. O(d).
    member CompareTo: other: KeyPath | null -> int
    /// Value equality. O(d), O(1) when the cached hashes differ.
    member Equals: other: KeyPath | null -> bool
    override Equals: other: obj | null -> bool
    /// O(1): cached at construction.
    override GetHashCode: unit -> int
    /// The keys' texts joined with '/': `layers/0/kernel` (the text Filter path regexes see). O(d).
    override ToString: unit -> string
    /// Python tuple notation, as Flax writes paths in messages: `('layers', 0, 'kernel')`, `('count',)`. O(d).
    member ToTupleString: unit -> string
    static member op_Equality: a: KeyPath | null * b: KeyPath | null -> bool
    static member op_Inequality: a: KeyPath | null * b: KeyPath | null -> bool
    interface IReadOnlyList<PathKey>
    interface IEquatable<KeyPath>
    interface IComparable<KeyPath>
    interface IComparable

/// How State merges treat a path that more than one input defines.
type MergeConflict =
    /// The later input wins, whether the earlier entry is a leaf or a sub-tree.
    | LastWins = 0
    /// Every path that is a leaf in one input and a leaf or sub-tree in another is an error.
    | Error = 1

/// A model variable: a value with immutable string-keyed metadata. Open to subclasses;
/// `WithValue` and `WithMetadata` keep the runtime type of subclasses without any code on their side.
type Variable =
    /// A variable with no metadata.
    new: value: obj | null -> Variable
    /// A variable with metadata (copied). Throws ArgumentNullException for null metadata.
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> Variable
    /// The value (any object, may be null).
    member Value: obj | null
    /// The metadata, in ordinal key order.
    member Metadata: IReadOnlyDictionary<string, obj | null>
    /// The "tag" metadata entry when it is a string, else null.
    member Tag: string | null
    /// A copy with another value: same runtime type, same metadata. O(1).
    member WithValue: value: obj | null -> Variable
    /// A copy with one metadata entry set: same runtime type and value. O(log m).
    member WithMetadata: key: string * value: obj | null -> Variable
    /// Equal when runtime types, values (arrays element by element) and metadata are equal.
    override Equals: other: obj | null -> bool
    override GetHashCode: unit -> int
    /// `TypeName(value=…, key=…)` on one line.
    override ToString: unit -> string

/// Learnable parameters.
type Param =
    inherit Variable
    new: value: obj | null -> Param
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> Param

/// Running batch statistics.
type BatchStat =
    inherit Variable
    new: value: obj | null -> BatchStat
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> BatchStat

/// Autoregressive cache.
type Cache =
    inherit Variable
    new: value: obj | null -> Cache
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> Cache

/// Sown intermediate values.
type Intermediate =
    inherit Variable
    new: value: obj | null -> Intermediate
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> Intermediate

/// Perturbations (an Intermediate).
type Perturbation =
    inherit Intermediate
    new: value: obj | null -> Perturbation
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> Perturbation

/// Random-number state; the "tag" metadata names the stream.
type RngState =
    inherit Variable
    new: value: obj | null -> RngState
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> RngState

/// A random key (an RngState).
type RngKey =
    inherit RngState
    new: value: obj | null -> RngKey
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> RngKey

/// A random-stream counter (an RngState).
type RngCount =
    inherit RngState
    new: value: obj | null -> RngCount
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> RngCount

/// Optimizer state.
type OptState =
    inherit Variable
    new: value: obj | null -> OptState
    new: value: obj | null * metadata: IReadOnlyDictionary<string, obj | null> -> OptState

namespace StateTree.FSharp

open System
open System.Collections.Generic
open StateTree

/// Decides, for a leaf at a path, whether it matches. Value equality (Where: delegate identity).
[<CustomEquality; NoComparison>]
type Filter =
    /// The leaf is an instance of the type or a subclass (raw leaves too).
    | OfType of Type
    /// The leaf is a Variable whose Tag equals the string.
    | WithTag of string
    /// exact: some key of the path equals the key (type-strict); else some key's text contains the key's text.
    | PathContains of key: PathKey * exact: bool
    /// The whole path is one of these.
    | PathIn of Set<KeyPath>
    /// The regex fully matches the path's text (`layers/0/kernel`); built by Filter.pathMatches.
    | PathMatches of pattern: string * regex: System.Text.RegularExpressions.Regex
    /// The path begins with the prefix.
    | PathStartsWith of KeyPath
    /// Any filter matches (none: nothing matches).
    | Any of Filter list
    /// All filters match (none: everything matches).
    | All of Filter list
    /// Negation.
    | Not of Filter
    /// Matches every leaf.
    | Everything
    /// Matches no leaf.
    | Nothing
    /// A predicate over path and leaf.
    | Where of Func<KeyPath, obj | null, bool>

    override Equals: other: obj | null -> bool
    override GetHashCode: unit -> int
    /// Flax style: `OfType(Param)`, `WithTag('x')`, `Any(OfType(Param), WithTag('x'))`, `Everything()`.
    override ToString: unit -> string
    interface IEquatable<Filter>

/// Filter constructors and evaluation.
[<RequireQualifiedAccess>]
module Filter =
    /// Matches instances of 'T and its subclasses.
    [<CompiledName("OfType")>]
    val ofType<'T> : Filter

    /// Matches instances of the type and its subclasses. Throws ArgumentNullException for null.
    [<CompiledName("OfTypeOf")>]
    val ofTypeOf: t: Type -> Filter

    /// Matches Variables whose Tag equals the tag.
    [<CompiledName("WithTag")>]
    val withTag: tag: string -> Filter

    /// Matches paths holding a key equal to key (type-strict).
    [<CompiledName("PathContains")>]
    val pathContains: key: PathKey -> Filter

    /// Matches paths with a key whose text contains the key's text.
    [<CompiledName("PathContainsText")>]
    val pathContainsText: key: PathKey -> Filter

    /// Matches exactly these paths.
    [<CompiledName("PathIn")>]
    val pathIn: paths: KeyPath seq -> Filter

    /// Matches paths whose text the regex fully matches. Throws ArgumentException for a bad pattern.
    [<CompiledName("PathMatches")>]
    val pathMatches: pattern: string -> Filter

    /// Matches paths that begin with the prefix.
    [<CompiledName("PathStartsWith")>]
    val pathStartsWith: prefix: KeyPath -> Filter

    /// Matches when any of the filters does.
    [<CompiledName("Any")>]
    val any: filters: Filter list -> Filter

    /// Matches when all of the filters do.
    [<CompiledName("All")>]
    val all: filters: Filter list -> Filter

    /// Matches when the filter does not.
    [<CompiledName("Not")>]
    val not: filter: Filter -> Filter

    /// Matches when the predicate holds.
    [<CompiledName("Where")>]
    val where: predicate: (KeyPath -> obj | null -> bool) -> Filter

    /// True when the filter matches the leaf at the path. O(size of the filter · d).
    [<CompiledName("Matches")>]
    val matches: filter: Filter -> path: KeyPath -> leaf: obj | null -> bool

/// A persistent, immutable tree of model state: each node maps keys (in key order) to a sub-state
/// or a leaf. Structural, order-free equality; hashable. Operations share unchanged sub-trees.
/// A sub-tree of at most 64 leaves (and 8 levels) is stored packed, its leaves in one array: its
/// sub-states are views made when read (two reads give equal, distinct instances sharing the leaves),
/// and an update inside it copies at most 64 leaf references.
[<Sealed>]
type State =
    /// The number of direct children. O(1).
    member Count: int
    /// The number of leaves in the whole tree. O(1).
    member LeafCount: int
    /// Structural equality (leaves by value, arrays and tensors element by element). O(n).
    override Equals: other: obj | null -> bool
    /// Consistent with Equals. O(n).
    override GetHashCode: unit -> int
    /// Flax's layout: `State({ 'key': Param( … ), … })`. O(n).
    override ToString: unit -> string
    interface IEquatable<State>

/// Implemented by wrappers of a State (the C# facade's State), so the core grafts them as sub-trees
/// wherever it takes a value.
type IStateWrapper =
    /// The wrapped core state.
    abstract Unwrap: unit -> State

/// What a node maps a key to.
[<RequireQualifiedAccess>]
type Child =
    /// A sub-state.
    | Sub of State
    /// A leaf (a Variable, a raw value or null).
    | Leaf of (obj | null)

/// Why an operation refused its input: each case names the path at fault.
[<RequireQualifiedAccess>]
type StateError =
    /// Split: some leaves match no filter; the remainder holds them.
    | NonExhaustiveSplit of remainder: State
    /// Filter.Everything appears before the last filter positions, at this index.
    | EverythingNotLast of index: int
    /// A pure-dict path (keys as the pure dict gave them) that the state does not have.
    | UnknownPath of keys: obj list
    /// Strict replace: a leaf of the state that the pure dict does not mention.
    | MissingPath of path: KeyPath
    /// Two pure-dict keys resolve to the same child (`"0"` and `0`); keys as given.
    | DuplicateKey of keys: obj list
    /// After int restoration a string key and an int key name the same child.
    | IntKeyCollision of path: KeyPath
    /// A pure-dict value could not be converted to the type of the value it replaces.
    | ConversionFailed of path: KeyPath * target: Type * reason: string
    /// A pure-dict key that is neither an int nor a string (or a pure dict that is no dictionary).
    | InvalidPureDict of keys: obj list * reason: string
    /// Merge with MergeConflict.Error: a leaf here in one input and a leaf or sub-tree in another.
    | MergeConflictAt of path: KeyPath
    /// FromFlatState: a path is a leaf and also a prefix of another path.
    | LeafIsPrefix of leaf: KeyPath * other: KeyPath
    /// FromFlatState: the empty path cannot hold a leaf.
    | EmptyPath
    /// Zip: a leaf path present in only one of the two states (first: true when only in the first).
    | ZipMismatch of path: KeyPath * inFirst: bool

    /// A one-line message naming the path in Python tuple notation.
    member Message: string
    /// The path at fault, when there is one.
    member Path: KeyPath option

/// Options of State.replaceByPureDictWith.
type ReplaceOptions =
    {
        /// `replace current newValue`; None: `variable.WithValue(newValue)` for variables, the new value
        /// for raw leaves, with JSON values converted to the type of the value they replace.
        Replace: (obj | null -> obj | null -> obj | null) option
        /// Also fail on leaves of the state that the pure dict does not mention.
        Strict: bool
    }

/// The State algebra: curried, data-last. Failures on data return Result with every problem;
/// misuse (null arguments, no filters) raises ArgumentException.
[<RequireQualifiedAccess>]
module State =
    /// The empty state.
    [<CompiledName("Empty")>]
    val empty: State

    /// A state from (key, value) pairs; a value that is a State, an IStateWrapper or a dictionary
    /// (IDictionary or IReadOnlyDictionary with PathKey, int or string keys) becomes a sub-state.
    /// A repeated key: the later wins. O(n log k).
    [<CompiledName("OfSeq")>]
    val ofSeq: entries: (PathKey * obj | null) seq -> State

    /// `ofSeq` of a list: the F# literal, e.g. `State.ofList [ "linear" => State.ofList [ "kernel" => Param 1.0 ] ]`.
    [<CompiledName("OfList")>]
    val ofList: entries: (PathKey * obj | null) list -> State

    /// The number of direct children. O(1).
    [<CompiledName("Count")>]
    val count: state: State -> int

    /// The number of leaves. O(1).
    [<CompiledName("LeafCount")>]
    val leafCount: state: State -> int

    /// The direct children in key order. O(k) to enumerate.
    [<CompiledName("ToSeq")>]
    val toSeq: state: State -> (PathKey * Child) seq

    /// The child under a key. O(log k).
    [<CompiledName("TryFind")>]
    val tryFind: key: PathKey -> state: State -> Child option

    /// The entry at a path (the root itself for the empty path). O(d log k).
    [<CompiledName("TryFindPath")>]
    val tryFindPath: path: KeyPath -> state: State -> Child option

    /// True when the node has a child under the key. O(log k).
    [<CompiledName("ContainsKey")>]
    val containsKey: key: PathKey -> state: State -> bool

    /// Sets the leaf (or grafts the sub-state) at the path, creating missing parents. Throws
    /// ArgumentException when a proper prefix of the path is a leaf, or for the empty path.
    /// O(d log k) time and allocation; shares everything off the path.
    [<CompiledName("SetItem")>]
    val set: path: KeyPath -> value: obj | null -> state: State -> State

    /// Removes the entry at the path; parents left empty stay. Returns the same instance when the
    /// path is absent. O(d log k).
    [<CompiledName("Remove")>]
    val remove: path: KeyPath -> state: State -> State

    /// Every leaf with its path, in path order; empty sub-states produce nothing. O(n).
    [<CompiledName("Flatten")>]
    val flatten: state: State -> struct (KeyPath * obj | null) array

    /// Builds the nested state from (path, leaf) pairs: a repeated path, the later wins; a value that is
    /// a State is grafted as if its leaves (and empty sub-states) had been listed under that path.
    /// Errors: the empty path; a path that is a leaf and a prefix of another. O(n) for pairs in path
    /// order (as flatten returns them); otherwise they are sorted first, O(n log n).
    [<CompiledName("OfFlat")>]
    val ofFlat: pairs: struct (KeyPath * obj | null) seq -> Result<State, StateError list>

    /// The leaves that match the filter, in a state pruned of everything else (empty sub-states dropped).
    /// Returns the input itself when every leaf matches and it has no empty sub-state. O(n), and
    /// O(nodes touched) where the filter decides a whole sub-tree by its path.
    [<CompiledName("Filter")>]
    val filter: filter: Filter -> state: State -> State

    /// One state per filter: each leaf goes to the first filter that matches it, unmatched leaves are
    /// dropped. Error when Filter.Everything stands before the trailing positions. Throws
    /// ArgumentException for an empty list. O(n · filters).
    [<CompiledName("FilterMany")>]
    val filterMany: filters: Filter list -> state: State -> Result<State list, StateError list>

    /// As filterMany, but every leaf must match some filter (else NonExhaustiveSplit). Whole sub-trees that
    /// go to one group are handed to it unchanged.
    [<CompiledName("Split")>]
    val split: filters: Filter list -> state: State -> Result<State list, StateError list>

    /// Union by full path, the later state winning on a shared path (leaf or sub-tree). Empty inputs are
    /// ignored; a single remaining input is returned as is. O(n), shares sub-trees only one input has.
    [<CompiledName("Merge")>]
    val merge: states: State list -> State

    /// merge with a conflict policy; MergeConflict.Error reports every conflicting path once.
    [<CompiledName("MergeWith")>]
    val mergeWith: conflict: MergeConflict -> states: State list -> Result<State, StateError list>

    /// `state - other`: the leaves of state whose exact path is not a leaf path of other. Returns state
    /// itself when other has no children. O(n).
    [<CompiledName("Diff")>]
    val diff: other: State -> state: State -> State

    /// A new state with the same paths and f applied to every leaf. O(n).
    [<CompiledName("Map")>]
    val map: f: (KeyPath -> obj | null -> obj | null) -> state: State -> State

    /// Like map, without the path (LINQ's Select). O(n).
    [<CompiledName("Select")>]
    val select: f: (obj | null -> obj | null) -> state: State -> State

    /// The leaves for which the predicate holds (LINQ's Where), pruned like filter. O(n).
    [<CompiledName("Where")>]
    val where: predicate: (obj | null -> bool) -> state: State -> State

    /// f over the leaves at the same paths of two states; error listing the paths only one has. O(n).
    [<CompiledName("Zip")>]
    val zip:
        f: (obj | null -> obj | null -> obj | null) -> first: State -> second: State -> Result<State, StateError list>

    /// Nested Dictionary<obj, obj> of the leaves (keys int or string, in path order; Variables give their
    /// Value, other leaves themselves); empty sub-states are dropped. O(n).
    [<CompiledName("ToPureDict")>]
    val toPureDict: state: State -> Dictionary<obj, obj | null>

    /// toPureDict with an extract function applied to every leaf. O(n).
    [<CompiledName("ToPureDictWith")>]
    val toPureDictWith: extract: (obj | null -> obj | null) -> state: State -> Dictionary<obj, obj | null>

    /// Replaces the leaves a pure dict mentions (IDictionary, IReadOnlyDictionary<string, obj>, JsonElement,
    /// JsonObject), keeping the others. Keys resolve level by level: exact key, else a canonical integer
    /// string to the int key. Every unknown path is reported. O(n + size of the pure dict).
    [<CompiledName("ReplaceByPureDict")>]
    val replaceByPureDict: pureDict: obj -> state: State -> Result<State, StateError list>

    /// replaceByPureDict with a custom replace function and/or strict checking.
    [<CompiledName("ReplaceByPureDictWith")>]
    val replaceByPureDictWith:
        options: ReplaceOptions -> pureDict: obj -> state: State -> Result<State, StateError list>

    /// A copy of a pure dict in which every canonical integer string key ("0", "-3"; not "05", "+4")
    /// becomes an int, at every depth; empty sub-dicts dropped; a string/int collision is an error. O(size).
    [<CompiledName("RestoreIntPaths")>]
    val restoreIntPaths: pureDict: obj -> Result<Dictionary<obj, obj | null>, StateError list>

    /// restoreIntPaths guided by a template: a string key becomes an int exactly where the template's
    /// node has that int key (and no equal string key). O(size).
    [<CompiledName("RestoreIntPathsLike")>]
    val restoreIntPathsLike: template: State -> pureDict: obj -> Result<Dictionary<obj, obj | null>, StateError list>

/// The allocation-free walk that benchmarks use as their floor (visible to the benchmark and test assemblies).
module internal Walk =
    /// The number of non-null leaves, found by visiting each. O(n), allocates nothing.
    [<CompiledName("TouchLeaves")>]
    val touchLeaves: s: State -> int

/// F# syntax for state literals.
[<AutoOpen>]
module Syntax =
    /// A (key, value) entry of a state literal: `"kernel" => Param 1.0` or `0 => State.ofList [...]`.
    val inline (=>):
        key: ^K -> value: 'V -> PathKey * obj | null when (^K or PathKey): (static member op_Implicit: ^K -> PathKey)

    /// Matches a key as an index or a name.
    val (|Index|Name|): key: PathKey -> Choice<int, string>
