"""The BLIP-2 captioner: prompt and special ids, decoding limits, batching, failures."""

import numpy as np
import pytest
import torch
from transformers import Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor

from extractors.base import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from extractors.weights import WeightsNotFoundError
from synth.caption import (
    Captioner,
    DecodingSettings,
    build_captioner,
    caption_each,
    full_config,
    same_vision_tower,
    tiny_config,
    tiny_tokenizer,
)
from tests.synth.conftest import PALETTE, PaletteCaptioner


def noise_frames(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 224, 224, 3), dtype=np.uint8)


def test_tiny_tokenizer_and_config_agree_on_the_special_ids():
    tokenizer = tiny_tokenizer()
    config = tiny_config(tokenizer)
    text = config.text_config
    # OPT's convention: </s> (id 2) is both BOS and EOS, <pad> is 1.
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 2, 1)
    assert (text.bos_token_id, text.eos_token_id, text.pad_token_id) == (2, 2, 1)
    assert config.image_token_index == tokenizer.convert_tokens_to_ids("<image>")
    assert config.image_token_index == len(tokenizer) - 1 < text.vocab_size == len(tokenizer)
    assert tokenizer("a dog on the grass").input_ids == [2, 4, 38, 13, 6, 55]
    assert tokenizer.decode([2, 4, 38, 1, 1], skip_special_tokens=True) == "a dog"


def test_prompt_is_what_the_blip2_processor_builds(tiny_models):
    captioner = tiny_models.captioner
    processor = Blip2Processor(BlipImageProcessor(), captioner.tokenizer, num_query_tokens=32)
    expected = processor(images=[noise_frames(1)[0]], text="", return_tensors="pt")["input_ids"]
    prompt = captioner.prompt_ids(2)
    assert prompt.tolist() == expected.tolist() * 2
    assert prompt[0, :32].tolist() == [captioner.module.config.image_token_index] * 32
    assert prompt[0, 32].item() == captioner.module.config.text_config.bos_token_id


def test_default_decoding_gives_10_to_30_words_and_frames_change_the_caption(tiny_models):
    captions = tiny_models.captioner.caption(noise_frames(4))
    assert all(10 <= len(caption.split()) <= 30 for caption in captions), captions
    assert len(set(captions)) == 4


def test_captions_are_what_blip2_generate_gives(tiny_models):
    captioner = tiny_models.captioner
    frames = noise_frames(3, seed=2)
    prompt = captioner.prompt_ids(3)
    with torch.inference_mode():
        output = captioner.module.generate(
            pixel_values=captioner.to_tensor(frames, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            **captioner.decoding.as_dict(),
        )
    texts = captioner.tokenizer.batch_decode(output[:, prompt.shape[1] :], skip_special_tokens=True)
    assert captioner.caption(frames) == [" ".join(text.split()) for text in texts]


def test_given_vision_states_stand_in_for_their_frames(tiny_models):
    captioner = tiny_models.captioner
    frames = noise_frames(3, seed=3)
    states = captioner.vision_states(frames)
    assert states.shape == (3, 257, captioner.module.config.vision_config.hidden_size)
    assert captioner.caption(frames, [states[0], None, states[2]]) == captioner.caption(frames)
    # the states are used, not the frame: frame 0 with frame 1's states gets frame 1's caption
    assert captioner.caption(frames[:1], [states[1]]) == captioner.caption(frames[1:2])
    assert captioner.caption(frames[:1]) != captioner.caption(frames[1:2])


def test_same_vision_tower_compares_architecture_and_weights(tiny_models):
    captioner, scorer = tiny_models.captioner, tiny_models.scorer.encoder
    phi_tower = scorer.module.vision_model
    assert not same_vision_tower(captioner, phi_tower)  # tiny towers are drawn differently
    twin = build_captioner("tiny", device="cpu")
    twin.module.vision_model.load_state_dict(phi_tower.state_dict())
    assert same_vision_tower(twin, phi_tower)
    with torch.no_grad():
        twin.module.vision_model.post_layernorm.bias[0] += 1e-3
    assert not same_vision_tower(twin, phi_tower)
    assert not same_vision_tower(twin, torch.nn.Linear(2, 2))


def test_decoding_settings_bound_the_new_tokens():
    captioner = build_captioner("tiny", device="cpu", decoding=DecodingSettings(1, 2, 4))
    captions = captioner.caption(noise_frames(3))
    assert all(1 <= len(caption.split()) <= 4 for caption in captions), captions
    with pytest.raises(ValueError, match="min_new_tokens"):
        DecodingSettings(3, 31, 30)


def test_a_batch_gives_the_captions_of_one_frame_at_a_time(tiny_models):
    frames = noise_frames(5, seed=1)
    batched = tiny_models.captioner.caption(frames)
    assert batched == [tiny_models.captioner.caption(frames[i : i + 1])[0] for i in range(5)]


def test_a_failing_frame_costs_only_its_own_caption():
    captioner = PaletteCaptioner({"green": "g", "red": "r", "blue": "b"}, fail={"red"})
    frames = np.stack([np.full((8, 8, 3), PALETTE[c], np.uint8) for c in ("green", "red", "blue")])
    results = caption_each(captioner, frames)
    assert results[0] == "g" and results[2] == "b"
    assert isinstance(results[1], RuntimeError) and "red" in str(results[1])
    assert captioner.calls == [3, 1, 1, 1]


def test_full_size_without_weights_names_the_fetch_command(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="videolights weights fetch blip2-captioner"):
        build_captioner("full", weights=tmp_path / "nowhere", device="cpu")


def test_a_saved_captioner_folder_loads_with_its_provenance(tmp_path):
    """The loading path of the real weights (`from_pretrained` on a local folder), fed a tiny
    model saved the way the hub's folder is laid out: the same captions as the model saved."""
    saved = build_captioner("tiny", device="cpu", precision="fp32", seed=3)
    folder = tmp_path / "blip2-opt-2.7b"
    saved.module.save_pretrained(folder)
    saved.tokenizer.save_pretrained(folder)
    loaded = build_captioner("full", weights=tmp_path, device="cpu", precision="fp32")
    frames = noise_frames(2, seed=4)
    assert loaded.caption(frames) == saved.caption(frames)
    assert loaded.provenance["weights"] == str(folder)
    assert len(loaded.provenance["sha256"]) == 64
    assert loaded.provenance["chosen_because"].startswith("the first folder holding it")


def test_full_config_is_blip2_opt_2_7b():
    config = full_config()
    assert config.num_query_tokens == 32
    assert config.image_token_index == 50265 < config.text_config.vocab_size == 50304
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (2560, 32)
    assert (config.vision_config.hidden_size, config.vision_config.num_hidden_layers) == (1408, 39)
    assert config.qformer_config.encoder_hidden_size == 1408
    small_decoder = full_config(tiny_language=True)
    assert small_decoder.vision_config.hidden_size == 1408
    assert small_decoder.text_config.hidden_size == 32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_captioner_is_what_transformers_loads_and_generates(tmp_path, dtype):
    """Against transformers' own loading (`from_pretrained(dtype=...)`, which keeps the query
    tokens and the Q-Former in fp32 for fp16, `_keep_in_fp32_modules`, and casts all in bf16)
    and its `generate`."""
    exact = build_captioner("tiny", device="cpu", precision="fp32")
    exact.module.save_pretrained(tmp_path)
    upstream = Blip2ForConditionalGeneration.from_pretrained(tmp_path, dtype=dtype)
    captioner = Captioner(exact.module, exact.tokenizer, torch.device("cpu"), dtype, {})
    expected = {name: p.dtype for name, p in upstream.named_parameters()}
    assert {name: p.dtype for name, p in captioner.module.named_parameters()} == expected
    qformer_dtype = torch.float32 if dtype == torch.float16 else dtype
    assert expected["qformer.layernorm.weight"] == qformer_dtype
    frames = noise_frames(2, seed=4)
    prompt = captioner.prompt_ids(2)
    with torch.inference_mode():
        output = upstream.eval().generate(
            pixel_values=captioner.to_tensor(frames, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            **captioner.decoding.as_dict(),
        )
    texts = captioner.tokenizer.batch_decode(output[:, prompt.shape[1] :], skip_special_tokens=True)
    assert captioner.caption(frames) == [" ".join(text.split()) for text in texts]
