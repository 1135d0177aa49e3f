/// A naive reference for every State operation: a flat map from paths to leaves plus the set of
/// empty sub-state paths. Nothing here uses the core's algorithms; it reads states only through
/// State.toSeq and builds them only through State.ofSeq, so a disagreement points at the core.
module StateTree.Core.Tests.ReferenceModel

open System
open System.Collections
open System.Collections.Generic
open System.Globalization
open System.Text
open System.Text.RegularExpressions
open StateTree
open StateTree.FSharp

/// A key as the reference sees it. F#'s structural order on this union is the SPEC's key order:
/// every I before every S, ints numerically, strings by ordinal comparison.
type RKey =
    | I of int
    | S of string

/// A path as a list of keys; list comparison is lexicographic with a prefix first, as SPEC §1 asks.
type RPath = RKey list

let rkey (k: PathKey) =
    if k.IsIndex then I k.Index else S k.Name

let pkey (r: RKey) =
    match r with
    | I i -> PathKey.FromIndex i
    | S s -> PathKey.FromName s

let toKeyPath (p: RPath) = KeyPath.OfSeq(List.map pkey p)

let ofKeyPath (p: KeyPath) : RPath =
    [ for i in 0 .. p.Count - 1 -> rkey p.[i] ]

let keyText (r: RKey) =
    match r with
    | I i -> i.ToString(CultureInfo.InvariantCulture)
    | S s -> s

let pathText (p: RPath) = String.Join("/", p |> List.map keyText)

let quote (s: string) =
    "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'"

let keyLiteral (r: RKey) =
    match r with
    | I i -> i.ToString(CultureInfo.InvariantCulture)
    | S s -> quote s

/// Python tuple notation: `('layers', 0, 'kernel')`, `('count',)`, `()`.
let tupleText (p: RPath) =
    match p with
    | [] -> "()"
    | [ k ] -> "(" + keyLiteral k + ",)"
    | ks -> "(" + String.Join(", ", ks |> List.map keyLiteral) + ")"

/// The key order written out by hand (the structural order above must agree with it).
let compareKey (a: RKey) (b: RKey) =
    match a, b with
    | I x, I y -> compare x y
    | I _, S _ -> -1
    | S _, I _ -> 1
    | S x, S y -> sign (String.CompareOrdinal(x, y))

let rec comparePath (a: RPath) (b: RPath) =
    match a, b with
    | [], [] -> 0
    | [], _ -> -1
    | _, [] -> 1
    | x :: xs, y :: ys ->
        let c = compareKey x y
        if c <> 0 then c else comparePath xs ys

/// SPEC §4.6: exactly what int.ToString() produces.
let canonicalInt (s: string) : int option =
    match Int32.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
    | true, n when n.ToString(CultureInfo.InvariantCulture) = s -> Some n
    | _ -> None

let keyObj (r: RKey) : obj =
    match r with
    | I i -> i :> obj
    | S s -> s :> obj

// ---------------------------------------------------------------------------------------------
// Leaves

let rec private metadataEquals
    (a: IReadOnlyDictionary<string, obj | null>)
    (b: IReadOnlyDictionary<string, obj | null>)
    =
    a.Count = b.Count
    && a
       |> Seq.forall (fun kv ->
           match b.TryGetValue kv.Key with
           | true, v -> leafEquals kv.Value v
           | _ -> false)

/// SPEC §1: Equals, arrays element by element, Variables by runtime type, value and metadata.
and leafEquals (a: obj | null) (b: obj | null) : bool =
    match a, b with
    | null, null -> true
    | null, _
    | _, null -> false
    | (:? Array as x), (:? Array as y) ->
        x.GetType() = y.GetType()
        && x.Rank = y.Rank
        && List.forall (fun d -> x.GetLength d = y.GetLength d) [ 0 .. x.Rank - 1 ]
        && Seq.forall2 leafEquals (Seq.cast<obj | null> x) (Seq.cast<obj | null> y)
    | (:? Variable as x), (:? Variable as y) ->
        x.GetType() = y.GetType()
        && leafEquals x.Value y.Value
        && metadataEquals x.Metadata y.Metadata
    | x, y -> x.Equals y

let rec showLeaf (v: obj | null) : string =
    match v with
    | null -> "null"
    | :? string as s -> quote s
    | :? Array as a ->
        let items = Seq.cast<obj | null> a |> Seq.map showLeaf
        let dims = String.Join("x", [ for d in 0 .. a.Rank - 1 -> a.GetLength d ])
        $"{a.GetType().Name}<{dims}>[{String.Join(';', items)}]"
    | :? Variable as x ->
        let meta =
            x.Metadata
            |> Seq.map (fun kv -> $", {kv.Key}={showLeaf kv.Value}")
            |> String.concat ""

        $"{x.GetType().Name}({showLeaf x.Value}{meta})"
    | :? IFormattable as f -> $"{f.ToString(null, CultureInfo.InvariantCulture)}:{f.GetType().Name}"
    | v -> string v

// ---------------------------------------------------------------------------------------------
// The model

type Model =
    { Leaves: Map<RPath, obj | null>
      Empties: Set<RPath> }

    override m.ToString() =
        let lines =
            [ for KeyValue(p, v) in m.Leaves -> tupleText p + " = " + showLeaf v ]
            @ [ for p in m.Empties -> tupleText p + " = {}" ]

        "{" + String.Join("; ", lines) + "}"

type Kind =
    | KLeaf of (obj | null)
    | KSub
    | KAbsent

let empty =
    { Leaves = Map.empty
      Empties = Set.empty }

let ofLeaves (leaves: (RPath * (obj | null)) seq) =
    { empty with Leaves = Map.ofSeq leaves }

/// p is a prefix of q (or equal).
let rec isPrefix (p: RPath) (q: RPath) =
    match p, q with
    | [], _ -> true
    | _, [] -> false
    | x :: xs, y :: ys -> x = y && isPrefix xs ys

let isProperPrefix (p: RPath) (q: RPath) =
    List.length p < List.length q && isPrefix p q

let entryPaths (m: Model) =
    Seq.append (m.Leaves |> Map.toSeq |> Seq.map fst) m.Empties

let childKeys (m: Model) (p: RPath) : Set<RKey> =
    entryPaths m
    |> Seq.choose (fun q ->
        if isProperPrefix p q then
            Some(List.item p.Length q)
        else
            None)
    |> Set.ofSeq

let kindAt (m: Model) (p: RPath) =
    match p with
    | [] -> KSub
    | _ ->
        match Map.tryFind p m.Leaves with
        | Some v -> KLeaf v
        | None ->
            if m.Empties.Contains p || entryPaths m |> Seq.exists (isProperPrefix p) then
                KSub
            else
                KAbsent

/// The part of the model below p, with paths relative to p.
let below (m: Model) (p: RPath) =
    { Leaves =
        m.Leaves
        |> Map.toSeq
        |> Seq.choose (fun (q, v) ->
            if isProperPrefix p q then
                Some(List.skip p.Length q, v)
            else
                None)
        |> Map.ofSeq
      Empties =
        m.Empties
        |> Seq.choose (fun q ->
            if isProperPrefix p q then
                Some(List.skip p.Length q)
            else
                None)
        |> Set.ofSeq }

let count (m: Model) = (childKeys m []).Count
let leafCount (m: Model) = m.Leaves.Count
let flat (m: Model) = { m with Empties = Set.empty }

let equals (a: Model) (b: Model) =
    a.Empties = b.Empties
    && a.Leaves.Count = b.Leaves.Count
    && Seq.forall2 (fun (p, x) (q, y) -> p = q && leafEquals x y) (Map.toSeq a.Leaves) (Map.toSeq b.Leaves)

/// The model of a core state, read through State.toSeq only.
let ofState (s: State) : Model =
    let leaves = ResizeArray()
    let empties = ResizeArray()

    let rec walk (prefix: RPath) (s: State) =
        for (k, c) in State.toSeq s do
            let p = prefix @ [ rkey k ]

            match c with
            | Child.Sub sub -> if State.count sub = 0 then empties.Add p else walk p sub
            | Child.Leaf v -> leaves.Add(p, v)

    walk [] s

    { Leaves = Map.ofSeq leaves
      Empties = Set.ofSeq empties }

/// A core state with exactly the model's content, built with State.ofSeq node by node.
let rec toState (m: Model) : State =
    State.ofSeq
        [ for k in childKeys m [] ->
              match kindAt m [ k ] with
              | KLeaf v -> pkey k, v
              | _ -> pkey k, box (toState (below m [ k ])) ]

/// Fails with both sides printed when the core state does not have the model's content.
let expectModel (what: string) (expected: Model) (actual: State) =
    let got = ofState actual

    if not (equals expected got) then
        failwith $"{what}: expected\n  {expected}\nbut the core gave\n  {got}\n(state: {actual})"

let expectSame (what: string) (expected: obj) (actual: obj) =
    if not (obj.ReferenceEquals(expected, actual)) then
        failwith $"{what}: expected the input instance back, got a new one"

let expectTrue (what: string) (condition: bool) =
    if not condition then
        failwith what

let expectEqual (what: string) (expected: 'T) (actual: 'T) =
    if expected <> actual then
        failwith $"{what}: expected\n  %A{expected}\nbut got\n  %A{actual}"

/// Every leaf v of s as the sub-state {"g": v}: what a map, zip or replace function that returns
/// sub-states makes of s.
let graftG (v: obj | null) : obj | null =
    box (State.ofList [ PathKey.FromName "g", v ])

/// Fails unless actual is s with every leaf grafted by graftG: the same content one level deeper,
/// and what each node records of itself (leaf count, paths that flatten follows) agreeing.
let expectGrafted (what: string) (s: State) (actual: State) =
    let expected =
        ofLeaves [ for KeyValue(p, v) in (ofState s).Leaves -> p @ [ S "g" ], v ]

    expectModel what expected actual
    expectEqual $"{what}: leaf count" expected.Leaves.Count (State.leafCount actual)

    expectEqual
        $"{what}: flattened paths"
        [ for KeyValue(p, _) in expected.Leaves -> p ]
        [ for struct (p, _) in State.flatten actual -> ofKeyPath p ]

// ---------------------------------------------------------------------------------------------
// Building and reading

let set (p: RPath) (v: obj | null) (m: Model) : Result<Model, string> =
    if p.IsEmpty then
        Error "the empty path"
    elif m.Leaves |> Map.exists (fun q _ -> isProperPrefix q p) then
        Error "a proper prefix is a leaf"
    else
        let leaves = m.Leaves |> Map.filter (fun q _ -> not (isPrefix p q))

        let empties =
            m.Empties
            |> Set.filter (fun q -> not (isPrefix p q) && not (isProperPrefix q p))

        match v with
        | :? State as s ->
            let sm = ofState s

            if count sm = 0 then
                Ok
                    { Leaves = leaves
                      Empties = empties.Add p }
            else
                Ok
                    { Leaves = Map.fold (fun acc q x -> Map.add (p @ q) x acc) leaves sm.Leaves
                      Empties = Set.union empties (Set.map (fun q -> p @ q) sm.Empties) }
        | v ->
            Ok
                { Leaves = leaves.Add(p, v)
                  Empties = empties }

/// None: the path is absent (the core must return its input instance).
let remove (p: RPath) (m: Model) : Model option =
    match p, kindAt m p with
    | [], _
    | _, KAbsent -> None
    | _ ->
        let removed =
            { Leaves = m.Leaves |> Map.filter (fun q _ -> not (isPrefix p q))
              Empties = m.Empties |> Set.filter (fun q -> not (isPrefix p q)) }

        let parent = List.take (p.Length - 1) p

        if not parent.IsEmpty && kindAt removed parent = KAbsent then
            Some
                { removed with
                    Empties = removed.Empties.Add parent }
        else
            Some removed

// ---------------------------------------------------------------------------------------------
// Filters

let tagOf (leaf: obj | null) : string option =
    match leaf with
    | :? Variable as v ->
        match v.Metadata.TryGetValue "tag" with
        | true, (:? string as s) -> Some s
        | _ -> None
    | _ -> None

let rec matches (f: Filter) (p: RPath) (leaf: obj | null) : bool =
    match f with
    | OfType t ->
        match leaf with
        | null -> false
        | l -> t.IsAssignableFrom(l.GetType())
    | WithTag tag -> tagOf leaf = Some tag
    | PathContains(k, true) -> List.contains (rkey k) p
    | PathContains(k, false) ->
        let text = keyText (rkey k)
        p |> List.exists (fun x -> (keyText x).Contains(text, StringComparison.Ordinal))
    | PathIn paths -> paths |> Seq.exists (fun q -> ofKeyPath q = p)
    | PathMatches(pattern, _) -> Regex.IsMatch(pathText p, @"\A(?:" + pattern + @")\z", RegexOptions.CultureInvariant)
    | PathStartsWith prefix -> isPrefix (ofKeyPath prefix) p
    | Any fs -> fs |> List.exists (fun g -> matches g p leaf)
    | All fs -> fs |> List.forall (fun g -> matches g p leaf)
    | Not g -> not (matches g p leaf)
    | Everything -> true
    | Nothing -> false
    | Where d -> d.Invoke(toKeyPath p, leaf)

let isEverything (f: Filter) =
    match f with
    | Everything -> true
    | _ -> false

/// SPEC §4.3: the indices of Filter.Everything that some other filter follows.
let everythingErrors (filters: Filter list) =
    let a = Array.ofList filters

    [ for i in 0 .. a.Length - 1 do
          if isEverything a.[i] && a.[i + 1 ..] |> Array.exists (isEverything >> not) then
              i ]

let filter (f: Filter) (m: Model) =
    { empty with
        Leaves = m.Leaves |> Map.filter (fun p v -> matches f p v) }

/// The group of each leaf (the first filter that matches), or None.
let private groupOf (filters: Filter list) (p: RPath) (v: obj | null) =
    filters |> List.tryFindIndex (fun f -> matches f p v)

type Partition =
    | Misplaced of int list
    | Groups of Model list * remainder: Model

let partition (filters: Filter list) (m: Model) =
    match everythingErrors filters with
    | [] ->
        let groups =
            [ for i in 0 .. filters.Length - 1 ->
                  { empty with
                      Leaves = m.Leaves |> Map.filter (fun p v -> groupOf filters p v = Some i) } ]

        let rest =
            { empty with
                Leaves = m.Leaves |> Map.filter (fun p v -> (groupOf filters p v).IsNone) }

        Groups(groups, rest)
    | errors -> Misplaced errors

// ---------------------------------------------------------------------------------------------
// Merge, diff, map, zip

/// The union by path of the leaves, later inputs winning over leaves at a prefix or below.
let mergeLeaves (inputs: Model list) =
    inputs
    |> List.fold
        (fun acc m ->
            m.Leaves
            |> Map.fold
                (fun acc p v ->
                    acc
                    |> Map.filter (fun q _ -> not (isPrefix p q) && not (isProperPrefix q p))
                    |> Map.add p v)
                acc)
        Map.empty

type MergeResult =
    /// The input at this index comes back as is.
    | Input of int
    | Merged of Model

let merge (inputs: Model list) =
    let nonEmpty = inputs |> List.indexed |> List.filter (fun (_, m) -> count m > 0)

    match nonEmpty with
    | [] -> Merged empty
    | [ (i, _) ] -> Input i
    | _ ->
        Merged
            { empty with
                Leaves = mergeLeaves (List.map snd nonEmpty) }

/// SPEC §4.4: every path that is a leaf in one input and a leaf or a sub-tree (with leaves) in another.
let conflicts (inputs: Model list) : RPath list =
    let candidates =
        inputs
        |> Seq.collect (fun m -> m.Leaves |> Map.toSeq |> Seq.map fst)
        |> Set.ofSeq

    [ for p in candidates do
          let leaves = inputs |> List.filter (fun m -> m.Leaves.ContainsKey p) |> List.length

          let subs =
              inputs
              |> List.filter (fun m -> m.Leaves |> Map.exists (fun q _ -> isProperPrefix p q))
              |> List.length

          if leaves >= 1 && leaves + subs >= 2 then
              p ]

/// None: other has no children (the core must return its input instance).
let diff (other: Model) (m: Model) : Model option =
    if count other = 0 then
        None
    else
        Some
            { empty with
                Leaves = m.Leaves |> Map.filter (fun p _ -> not (other.Leaves.ContainsKey p)) }

let map (f: RPath -> obj | null -> obj | null) (m: Model) =
    { empty with
        Leaves = m.Leaves |> Map.map f }

let zip (f: obj | null -> obj | null -> obj | null) (a: Model) (b: Model) : Result<Model, (RPath * bool) list> =
    let ka = a.Leaves |> Map.toSeq |> Seq.map fst |> Set.ofSeq
    let kb = b.Leaves |> Map.toSeq |> Seq.map fst |> Set.ofSeq

    if ka = kb then
        Ok
            { empty with
                Leaves = a.Leaves |> Map.map (fun p x -> f x b.Leaves.[p]) }
    else
        Error([ for p in ka - kb -> p, true ] @ [ for p in kb - ka -> p, false ] |> List.sort)

// ---------------------------------------------------------------------------------------------
// Flat pairs

type FlatEntry =
    | FLeaf of (obj | null)
    | FEmpty

type OfFlatResult =
    | Built of Model
    /// emptyPath: some pair had the empty path; badPaths: every path below a leaf path.
    | Refused of emptyPath: bool * badPaths: Set<RPath>

let ofFlat (pairs: (RPath * (obj | null)) list) =
    let expanded =
        pairs
        |> List.collect (fun (p, v) ->
            match v with
            | :? State as s ->
                let sm = ofState s

                if count sm = 0 then
                    [ p, FEmpty ]
                else
                    [ for KeyValue(q, x) in sm.Leaves -> p @ q, FLeaf x ]
                    @ [ for q in sm.Empties -> p @ q, FEmpty ]
            | v -> [ p, FLeaf v ])

    let emptyPath = expanded |> List.exists (fun (p, _) -> p.IsEmpty)

    let entries =
        expanded
        |> List.filter (fun (p, _) -> not p.IsEmpty)
        |> List.fold (fun acc (p, e) -> Map.add p e acc) Map.empty

    let leafPaths =
        entries
        |> Map.toSeq
        |> Seq.choose (fun (p, e) ->
            match e with
            | FLeaf _ -> Some p
            | FEmpty -> None)
        |> List.ofSeq

    let bad =
        entries
        |> Map.toSeq
        |> Seq.map fst
        |> Seq.filter (fun q -> leafPaths |> List.exists (fun l -> isProperPrefix l q))
        |> Set.ofSeq

    if emptyPath || not bad.IsEmpty then
        Refused(emptyPath, bad)
    else
        let all = entries |> Map.toSeq |> Seq.map fst |> List.ofSeq

        Built
            { Leaves =
                entries
                |> Map.toSeq
                |> Seq.choose (fun (p, e) ->
                    match e with
                    | FLeaf v -> Some(p, v)
                    | FEmpty -> None)
                |> Map.ofSeq
              Empties =
                entries
                |> Map.toSeq
                |> Seq.choose (fun (p, e) ->
                    match e with
                    | FEmpty when not (all |> List.exists (isProperPrefix p)) -> Some p
                    | _ -> None)
                |> Set.ofSeq }

// ---------------------------------------------------------------------------------------------
// Pure dicts

/// A pure dict as plain data: keys are boxed ints or strings, in the order given.
type PD =
    | PLeaf of (obj | null)
    | PNode of (obj * PD) list

    override d.ToString() =
        match d with
        | PLeaf v -> showLeaf v
        | PNode kids ->
            let text (k: obj) =
                match k with
                | :? string as s -> quote s
                | k -> string k

            "{"
            + String.Join(", ", kids |> List.map (fun (k, v) -> text k + ": " + string v))
            + "}"

/// The entries of any dictionary-like value the SPEC accepts, in enumeration order, or None for a leaf.
let entriesOf (v: obj | null) : (obj * (obj | null)) list option =
    match v with
    | null
    | :? string -> None
    | :? IDictionary as d ->
        let e = d.GetEnumerator()

        Some
            [ while e.MoveNext() do
                  yield e.Key, e.Value ]
    | :? IReadOnlyDictionary<string, obj | null> as d -> Some [ for kv in d -> (kv.Key :> obj), kv.Value ]
    | _ -> None

/// Reads a pure dict (any accepted dictionary) as plain data.
let rec readPure (v: obj | null) : PD =
    match entriesOf v with
    | Some es -> PNode [ for (k, x) in es -> k, readPure x ]
    | None -> PLeaf v

/// The pure dict without its empty sub-dicts (at any depth): what "taken leaf by leaf" sees.
let rec prunePure (d: PD) : PD =
    match d with
    | PLeaf _ -> d
    | PNode kids ->
        PNode
            [ for (k, v) in kids do
                  match prunePure v with
                  | PNode [] -> ()
                  | w -> yield k, w ]

let rec pdEquals (a: PD) (b: PD) =
    match a, b with
    | PLeaf x, PLeaf y -> leafEquals x y
    | PNode xs, PNode ys ->
        xs.Length = ys.Length
        && List.forall2 (fun (k, x) (l, y) -> k.Equals l && pdEquals x y) xs ys
    | _ -> false

/// Equality that ignores the order of keys (dictionaries have no order to compare).
let rec pdEqualsUnordered (a: PD) (b: PD) =
    match a, b with
    | PLeaf x, PLeaf y -> leafEquals x y
    | PNode xs, PNode ys ->
        xs.Length = ys.Length
        && xs
           |> List.forall (fun (k, x) ->
               match ys |> List.tryFind (fun (l, _) -> k.Equals l) with
               | Some(_, y) -> pdEqualsUnordered x y
               | None -> false)
    | _ -> false

/// SPEC §4.6 toPureDict: nested dicts of the leaves in path order, leaves through extract.
let toPure (extract: obj | null -> obj | null) (m: Model) : PD =
    let rec node (p: RPath) =
        PNode
            [ for k in childKeys (flat m) p ->
                  match kindAt m (p @ [ k ]) with
                  | KLeaf v -> keyObj k, PLeaf(extract v)
                  | _ -> keyObj k, node (p @ [ k ]) ]

    node []

let valueOf (leaf: obj | null) =
    match leaf with
    | :? Variable as v -> v.Value
    | x -> x

/// Every key as its text, what a JSON round trip does.
let rec stringKeyed (d: PD) =
    match d with
    | PLeaf _ -> d
    | PNode kids ->
        PNode
            [ for (k, v) in kids ->
                  let text =
                      match k with
                      | :? int as i -> i.ToString(CultureInfo.InvariantCulture)
                      | k -> string k

                  (text :> obj), stringKeyed v ]

/// A pure dict with only IReadOnlyDictionary<string, obj> (no IDictionary), in a fixed order.
type ReadOnlyOnly(entries: KeyValuePair<string, obj | null> array) =
    interface IReadOnlyDictionary<string, obj | null> with
        member _.Count = entries.Length

        member _.Item
            with get key =
                match entries |> Array.tryFind (fun kv -> kv.Key = key) with
                | Some kv -> kv.Value
                | None -> raise (KeyNotFoundException key)

        member _.Keys = entries |> Seq.map (fun kv -> kv.Key)
        member _.Values = entries |> Seq.map (fun kv -> kv.Value)

        member _.ContainsKey key =
            entries |> Array.exists (fun kv -> kv.Key = key)

        member _.TryGetValue(key: string, value: byref<obj | null>) =
            match entries |> Array.tryFind (fun kv -> kv.Key = key) with
            | Some kv ->
                value <- kv.Value
                true
            | None ->
                value <- null
                false

        member _.GetEnumerator() : IEnumerator<KeyValuePair<string, obj | null>> =
            (entries :> IEnumerable<KeyValuePair<string, obj | null>>).GetEnumerator()

        member _.GetEnumerator() : IEnumerator = entries.GetEnumerator()

/// How a PD becomes a real pure dict.
type Flavor =
    /// Dictionary<obj, obj> everywhere.
    | ObjectKeys
    /// Dictionary<string, obj> where every key of a node is a string.
    | StringKeys
    /// An IReadOnlyDictionary<string, obj> that is no IDictionary, where every key is a string.
    | ReadOnlyStrings
    /// StringKeys at even depths, ObjectKeys at odd ones: string-keyed dicts holding other kinds.
    | Mixed

let rec private materializeAt (flavor: Flavor) (depth: int) (d: PD) : obj | null =
    match d with
    | PLeaf v -> v
    | PNode kids ->
        let allStrings = kids |> List.forall (fun (k, _) -> k :? string)

        let here =
            match flavor with
            | Mixed -> if depth % 2 = 0 then StringKeys else ObjectKeys
            | f -> f

        let child = materializeAt flavor (depth + 1)

        match here with
        | StringKeys when allStrings ->
            let r = Dictionary<string, obj | null>()

            for (k, v) in kids do
                r.TryAdd(string k, child v) |> ignore

            box r
        | ReadOnlyStrings when allStrings ->
            let seen = HashSet<string>()

            box (
                ReadOnlyOnly(
                    [| for (k, v) in kids do
                           if seen.Add(string k) then
                               KeyValuePair(string k, child v) |]
                )
            )
        | _ ->
            let r = Dictionary<obj, obj | null>()

            for (k, v) in kids do
                r.TryAdd(k, child v) |> ignore

            box r

/// A fresh pure dict for the PD (first key wins among equal keys).
let materialize (flavor: Flavor) (d: PD) : obj | null = materializeAt flavor 0 d

/// The pure-dict leaves below v (keys as given), one key list per leaf; empty sub-dicts give none.
let rec pureLeafPaths (given: obj list) (v: obj | null) : obj list list =
    match entriesOf v with
    | Some es -> es |> List.collect (fun (k, x) -> pureLeafPaths (given @ [ k ]) x)
    | None -> [ given ]

let defaultReplace (current: obj | null) (value: obj | null) : obj | null =
    match current with
    | :? Variable as v -> box (v.WithValue value)
    | _ -> value

/// SPEC §4.6 ReplaceByPureDict, read literally: level by level, exact key then canonical int; the
/// pure dict is taken leaf by leaf (so empty sub-dicts are ignored altogether); every problem reported.
let replace
    (replaceFn: obj | null -> obj | null -> obj | null)
    (strict: bool)
    (pureDict: obj)
    (m: Model)
    : Result<Model, StateError list> =
    let errors = ResizeArray<StateError>()
    let mutable leaves = m.Leaves

    let unknown (given: obj list) (v: obj | null) =
        for keys in pureLeafPaths given v do
            errors.Add(StateError.UnknownPath keys)

    let missingBelow (p: RPath) =
        for KeyValue(q, _) in m.Leaves do
            if isPrefix p q then
                errors.Add(StateError.MissingPath(toKeyPath q))

    let rec walk (statePath: RPath) (given: obj list) (es: (obj * (obj | null)) list) =
        let kids = childKeys m statePath
        let named = HashSet<RKey>()

        for (k, v) in es do
            if not (pureLeafPaths [] v).IsEmpty then
                let resolved =
                    match k with
                    | :? string as s ->
                        if kids.Contains(S s) then
                            Some(S s)
                        else
                            match canonicalInt s with
                            | Some n when kids.Contains(I n) -> Some(I n)
                            | _ -> None
                    | :? int as n when kids.Contains(I n) -> Some(I n)
                    | _ -> None

                let keys = given @ [ k ]

                match resolved with
                | None -> unknown keys v
                | Some r when not (named.Add r) -> errors.Add(StateError.DuplicateKey keys)
                | Some r ->
                    let child = statePath @ [ r ]

                    match entriesOf v, kindAt m child with
                    | Some sub, KSub -> walk child keys sub
                    | Some _, _ -> unknown keys v
                    | None, KSub ->
                        errors.Add(StateError.UnknownPath keys)

                        if strict then
                            missingBelow child
                    | None, KLeaf current -> leaves <- leaves.Add(child, replaceFn current v)
                    | None, KAbsent -> failwith "unreachable: a resolved child exists"

        if strict then
            for r in kids do
                if not (named.Contains r) then
                    missingBelow (statePath @ [ r ])

    match entriesOf (box pureDict) with
    | None -> Error [ StateError.InvalidPureDict([], "not a dictionary") ]
    | Some es ->
        walk [] [] es

        if errors.Count > 0 then
            Error(List.ofSeq errors)
        else
            Ok { empty with Leaves = leaves }

/// SPEC §4.6 RestoreIntPaths (template None) and the template form.
let restore (template: Model option) (pureDict: obj) : Result<PD, StateError list> =
    let errors = ResizeArray<StateError>()

    let rec walk (templatePath: RPath option) (path: RPath) (given: obj list) (es: (obj * (obj | null)) list) =
        let out = ResizeArray<RKey * PD>()

        for (k, v) in es do
            let key =
                match k with
                | :? string as s ->
                    match template, templatePath with
                    | None, _ -> Some(canonicalInt s |> Option.map I |> Option.defaultValue (S s))
                    | Some t, Some tp ->
                        let kids = childKeys t tp

                        match canonicalInt s with
                        | Some n when kids.Contains(I n) && not (kids.Contains(S s)) -> Some(I n)
                        | _ -> Some(S s)
                    | Some _, None -> Some(S s)
                | :? int as n -> Some(I n)
                | _ -> None

            match key with
            | None -> errors.Add(StateError.InvalidPureDict(given @ [ k ], "not an int or a string"))
            | Some key ->
                let value =
                    match entriesOf v with
                    | Some sub ->
                        let childTemplate =
                            match template, templatePath with
                            | Some t, Some tp when kindAt t (tp @ [ key ]) = KSub -> Some(tp @ [ key ])
                            | _ -> None

                        match walk childTemplate (path @ [ key ]) (given @ [ k ]) sub with
                        | [] -> None
                        | kids -> Some(PNode kids)
                    | None -> Some(PLeaf v)

                match value with
                | None -> ()
                | Some d ->
                    if out.Exists(fun (x, _) -> x = key) then
                        errors.Add(StateError.IntKeyCollision(toKeyPath (path @ [ key ])))
                    else
                        out.Add(key, d)

        [ for (k, d) in out -> keyObj k, d ]

    match entriesOf (box pureDict) with
    | None -> Error [ StateError.InvalidPureDict([], "not a dictionary") ]
    | Some es ->
        let d = walk (template |> Option.map (fun _ -> [])) [] [] es

        if errors.Count > 0 then
            Error(List.ofSeq errors)
        else
            Ok(PNode d)

// ---------------------------------------------------------------------------------------------
// Printing (SPEC §4.8)

let private elementName (t: Type) =
    if t = typeof<float32> then "float32", 4
    elif t = typeof<float> then "float64", 8
    elif t = typeof<int> then "int32", 4
    elif t = typeof<int64> then "int64", 8
    elif t = typeof<byte> then "uint8", 1
    elif t = typeof<bool> then "bool", 1
    else t.Name, 0

let private shape (a: Array) =
    let name, _ = elementName (nonNull (a.GetType().GetElementType()))

    name
    + "["
    + String.Join(",", [ for d in 0 .. a.Rank - 1 -> a.GetLength d ])
    + "]"

let literal (v: obj | null) : string =
    match v with
    | null -> "null"
    | :? string as s -> quote s
    | :? bool as b -> if b then "true" else "false"
    | :? Array as a -> shape a
    | :? IFormattable as f -> f.ToString(null, CultureInfo.InvariantCulture)
    | v -> string v

let private sizeComment (v: obj | null) =
    match v with
    | :? Array as a ->
        let _, size = elementName (nonNull (a.GetType().GetElementType()))
        let n = a.Length.ToString("N0", CultureInfo.InvariantCulture)
        // The test arrays are tiny, so the byte count always prints in B.
        $" # {n} ({a.Length * size} B)"
    | _ -> ""

let print (m: Model) : string =
    let sb = StringBuilder("State(")
    let indent (level: int) = sb.Append(' ', 2 * level) |> ignore

    let rec node (p: RPath) (level: int) =
        let kids = childKeys m p |> List.ofSeq

        if kids.IsEmpty then
            sb.Append("{}") |> ignore
        else
            sb.Append("{\n") |> ignore

            kids
            |> List.iteri (fun i k ->
                indent (level + 1)
                sb.Append(keyLiteral k).Append(": ") |> ignore

                match kindAt m (p @ [ k ]) with
                | KLeaf(:? Variable as v) ->
                    sb.Append(v.GetType().Name).Append('(').Append(sizeComment v.Value).Append('\n')
                    |> ignore

                    indent (level + 2)
                    sb.Append("value=").Append(literal v.Value) |> ignore

                    for kv in v.Metadata |> Seq.sortWith (fun a b -> String.CompareOrdinal(a.Key, b.Key)) do
                        sb.Append(",\n") |> ignore
                        indent (level + 2)
                        sb.Append(kv.Key).Append('=').Append(literal kv.Value) |> ignore

                    sb.Append('\n') |> ignore
                    indent (level + 1)
                    sb.Append(')') |> ignore
                | KLeaf leaf -> sb.Append(literal leaf) |> ignore
                | _ -> node (p @ [ k ]) (level + 1)

                sb.Append(if i < kids.Length - 1 then ",\n" else "\n") |> ignore)

            indent level
            sb.Append('}') |> ignore

    node [] 0
    sb.Append(')').ToString()

/// SPEC §3 ToString in Flax's style (Where filters excluded: they print their delegate).
let rec filterText (f: Filter) : string =
    let list (fs: Filter list) =
        String.Join(", ", fs |> List.map filterText)

    match f with
    | OfType t -> $"OfType({t.Name})"
    | WithTag s -> $"WithTag({quote s})"
    | PathContains(k, e) -> $"""PathContains({keyLiteral (rkey k)}, exact={(if e then "True" else "False")})"""
    | PathIn paths ->
        let texts =
            paths |> Seq.map ofKeyPath |> Seq.sortWith comparePath |> Seq.map tupleText

        "PathIn(" + String.Join(", ", texts) + ")"
    | PathMatches(p, _) -> $"PathMatches({quote p})"
    | PathStartsWith p -> $"PathStartsWith({tupleText (ofKeyPath p)})"
    | Any fs -> $"Any({list fs})"
    | All fs -> $"All({list fs})"
    | Not g -> $"Not({filterText g})"
    | Everything -> "Everything()"
    | Nothing -> "Nothing()"
    | Where _ -> "Where(...)"
