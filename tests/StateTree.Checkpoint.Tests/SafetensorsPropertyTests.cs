using FsCheck;
using FsCheck.Fluent;

namespace StateTree.Checkpoint.Tests;

/// <summary>Round-trip laws over generated states: every dtype, representation, awkward key and Variable type.</summary>
public sealed class SafetensorsPropertyTests
{
    [Fact]
    public void Load_of_Save_is_the_state_itself() =>
        Prop.ForAll(StGen.Trees, tree =>
        {
            var state = tree.ToState();
            var loaded = Safetensors.Read(Safetensors.ToBytes(state));
            Assert.Equal(state, loaded);
        }).Check(StGen.Config(300));

    [Fact]
    public void Without_structure_a_file_loads_as_bare_tensors_and_scalars() =>
        Prop.ForAll(StGen.Trees, tree =>
        {
            var state = tree.ToState();
            var bytes = Safetensors.ToBytes(state, new SafetensorsOptions { StoreStructure = false });
            Assert.False(Safetensors.ReadHeader(bytes).Metadata.ContainsKey(Safetensors.StructureKey));
            Assert.Equal(StGen.Bare(state), Safetensors.Read(bytes));
        }).Check(StGen.Config(200));

    [Fact]
    public void Saving_what_was_loaded_with_the_reported_metadata_gives_the_same_bytes() =>
        Prop.ForAll(StGen.Trees, Arb.From(Gen.Choose(0, 3)), (tree, options) =>
        {
            var metadata = options switch
            {
                0 => null,
                1 => new Dictionary<string, string>(),
                2 => new Dictionary<string, string> { ["format"] = "pt", ["z"] = "é\"\\", ["a"] = "" },
                _ => new Dictionary<string, string> { ["format"] = "np" },
            };
            var first = Safetensors.ToBytes(tree.ToState(), new SafetensorsOptions { Metadata = metadata, StoreStructure = options != 3 });
            var header = Safetensors.ReadHeader(first);
            var loaded = Safetensors.Read(first);
            var again = Safetensors.ToBytes(loaded, new SafetensorsOptions { Metadata = header.Metadata, StoreStructure = false });
            Assert.Equal(first, again);
        }).Check(StGen.Config(200));

    [Fact]
    public void A_partial_load_is_the_filtered_full_load() =>
        Prop.ForAll(StGen.Trees, Arb.From(Gen.Choose(0, 4)), (tree, which) =>
        {
            var state = tree.ToState();
            var bytes = Safetensors.ToBytes(state);
            var filter = which switch
            {
                0 => Filter.OfType<Param>(),
                1 => Filter.PathContains(0),
                2 => Filter.WithTag("x") | Filter.OfType<BatchStat>(),
                3 => !Filter.OfType<Variable>(),
                _ => Filter.Everything,
            };
            Assert.Equal(Safetensors.Read(bytes).Filter(filter), Safetensors.Read(bytes, filter));
        }).Check(StGen.Config(150));

    [Fact]
    public void Names_parse_back_to_their_paths() =>
        Prop.ForAll(Arb.From(StGen.Key.NonEmptyListOf(), keys => keys.Count > 1 ? [keys.Skip(1).ToList(), keys.SkipLast(1).ToList()] : []), keys =>
        {
            var path = KeyPath.OfSeq(keys);
            Assert.Equal(path, TensorNames.Parse(TensorNames.Format(path)));
        }).Check(StGen.Config(2000));

    [Fact]
    public void Backslash_free_names_format_back_to_themselves() =>
        Prop.ForAll(Arb.From(Gen.Elements("ab.0-9\u00e9x17".ToCharArray()).ArrayOf().Select(cs => new string(cs))), name =>
        {
            Assert.Equal(name, TensorNames.Format(TensorNames.Parse(name)));
        }).Check(StGen.Config(2000));
}
