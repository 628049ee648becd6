"""Algorithm 1, step 2: caption a batch of representative frames with BLIP-2
(transformers `Blip2ForConditionalGeneration`).

Sizes:
- `full`: Salesforce/blip2-opt-2.7b (EVA ViT-g/14 + Q-Former + OPT-2.7b), loaded from the local
  Hugging Face folder that `extractors.weights.resolve("blip2-captioner", weights)` finds, with
  that folder's tokenizer; with `random_weights` the same architecture, randomly initialised
  (speed measurements only).
- `tiny`: the same class with a 2-layer vision tower, Q-Former and OPT decoder, seeded random
  weights and a word-level tokenizer built in code (`tiny_tokenizer`). Its weights are drawn
  wider than the usual 0.02 so that different frames give different captions.

The prompt follows transformers 5: `input_ids` start with `num_query_tokens` copies of
`image_token_index` (generation puts the projected query outputs there), then the decoder's BOS,
as `Blip2Processor` builds them for an empty text. Decoding (default: 3 beams, 10 to 30 new
tokens, no sampling, as LAVIS captioned) is `DecodingSettings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    Blip2Config,
    Blip2ForConditionalGeneration,
    OPTConfig,
    PreTrainedTokenizerFast,
)

from extractors import blip2 as blip2_features
from extractors import weights as weight_files
from extractors.base import Encoder
from extractors.registry import SIZES, dtype_name, resolve_device, resolve_dtype

TINY_INIT_STD = 0.5
# OPT's special ids: `<s>` 0, `<pad>` 1, `</s>` 2 (its BOS and EOS), `<unk>` 3.
TINY_SPECIAL = ("<s>", "<pad>", "</s>", "<unk>")
TINY_WORDS = (
    "a an the this two three some of in on at with and by near behind under over into from "
    "man woman person people boy girl child baby men women group crowd player team dog cat "
    "bird horse cow rabbit squirrel animal car truck bus bike boat train plane tree trees "
    "grass field forest road street city house room kitchen table chair bed window door wall "
    "water river lake beach sky sun snow mountain hill park food plate ball phone camera "
    "sitting standing walking running playing holding eating looking riding talking jumping "
    "flying swimming lying cooking smiling wearing watching red blue green white black yellow "
    "brown small large big young old front top side"
)


@dataclass(frozen=True)
class DecodingSettings:
    """How captions are decoded: beam search, no sampling."""

    num_beams: int = 3
    min_new_tokens: int = 10
    max_new_tokens: int = 30

    def __post_init__(self):
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be at least 1, got {self.num_beams}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens or self.max_new_tokens < 1:
            raise ValueError(
                f"need 0 <= min_new_tokens <= max_new_tokens and max_new_tokens >= 1, got "
                f"{self.min_new_tokens} and {self.max_new_tokens}"
            )

    def as_dict(self) -> dict:
        return asdict(self)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over TINY_WORDS with OPT's special ids and an `<image>` token
    last: no OPT vocabulary exists offline. Like OPT's, it starts every text with `</s>` (its
    BOS); decoding joins words with spaces."""
    tokens = [*TINY_SPECIAL, *TINY_WORDS.split(), "<image>"]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A </s> $B", special_tokens=[("</s>", 2)]
    )
    backend.decoder = decoders.WordPiece()  # joins tokens with single spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<s>", "<image>"],
    )


def tiny_config(tokenizer: PreTrainedTokenizerFast) -> Blip2Config:
    """Tiny vision tower, Q-Former and OPT decoder; special ids taken from `tokenizer`."""
    vision = blip2_features.vision_config("tiny", initializer_range=TINY_INIT_STD)
    qformer = blip2_features.qformer_config("tiny", initializer_range=TINY_INIT_STD)
    text = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        word_embed_proj_dim=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        init_std=TINY_INIT_STD,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=32,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        initializer_range=TINY_INIT_STD,
    )


def full_config(tiny_language: bool = False) -> Blip2Config:
    """The architecture of Salesforce/blip2-opt-2.7b (its config.json: image token 50265,
    vocabulary 50304, EOS 50118 = "\\n"). `tiny_language` keeps the full vision tower and
    Q-Former with the tiny OPT decoder: what the benchmark measures on a CPU."""
    qformer = blip2_features.qformer_config("full")
    if tiny_language:
        tiny = tiny_config(tiny_tokenizer())
        text, image_token = tiny.text_config, tiny.image_token_index
    else:
        text = OPTConfig(
            vocab_size=50304,
            hidden_size=2560,
            word_embed_proj_dim=2560,
            ffn_dim=10240,
            num_hidden_layers=32,
            num_attention_heads=32,
            max_position_embeddings=2048,
            bos_token_id=2,
            eos_token_id=50118,
            pad_token_id=1,
        )
        image_token = 50265
    return Blip2Config(
        vision_config=blip2_features.vision_config("full").to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=32,
        image_token_index=image_token,
    )


def placeholder_tokenizer(config: Blip2Config) -> PreTrainedTokenizerFast:
    """Token `i` decodes to the word `t{i}`: for a randomly initialised OPT-2.7b, whose real
    vocabulary is not on disk. Special ids come from `config`."""
    text = config.text_config
    special = {
        text.bos_token_id: "<bos>",
        text.eos_token_id: "<eos>",
        text.pad_token_id: "<pad>",
        config.image_token_index: "<image>",
    }
    vocabulary = {special.get(i, f"t{i}"): i for i in range(text.vocab_size)}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<pad>",
        additional_special_tokens=["<image>"],
    )


class Captioner(Encoder):
    """Captions frames in batches: (B, H, W, 3) uint8 RGB -> B strings."""

    name = "blip2-captioner"
    batch_size = 16

    def __init__(
        self,
        model: Blip2ForConditionalGeneration,
        tokenizer,
        device: torch.device,
        dtype: torch.dtype,
        provenance: dict,
        decoding: DecodingSettings | None = None,
    ):
        super().__init__(model, device, dtype, provenance)
        self.tokenizer = tokenizer
        self.decoding = decoding or DecodingSettings()
        config = model.config
        if config.image_token_index is None:
            raise ValueError(
                "the captioner's config has no image_token_index (a folder saved before "
                "transformers added the <image> token); fetch the model again"
            )
        self.dim = config.text_config.hidden_size
        prompt = [config.image_token_index] * config.num_query_tokens
        self.prompt = [*prompt, config.text_config.bos_token_id]

    def fp32_parts(self, module: Blip2ForConditionalGeneration, dtype: torch.dtype) -> set[str]:
        """What transformers' `from_pretrained(dtype=...)` keeps in float32: its
        `_keep_in_fp32_modules` (the query tokens and the Q-Former) in fp16, only the `_strict`
        ones (none for BLIP-2) in bf16."""
        keep = module._keep_in_fp32_modules if dtype == torch.float16 else set()
        return set(keep) | set(module._keep_in_fp32_modules_strict)

    def prompt_ids(self, batch: int) -> torch.Tensor:
        """(batch, num_query_tokens + 1): the image tokens, then BOS."""
        return torch.tensor([self.prompt] * batch, dtype=torch.long, device=self.device)

    def vision_states(self, frames: np.ndarray) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> the vision tower's last states (B, 257, vision width)."""
        return blip2_features.vision_states(self, frames)

    def caption(
        self, frames: np.ndarray, image_states: list[torch.Tensor | None] | None = None
    ) -> list[str]:
        """(B, H, W, 3) uint8 -> B captions (stripped; may be empty). `image_states[i]`, when
        given, is frame i's `vision_states` already computed (by a vision tower shared with
        phi): its vision pass is skipped."""
        if len(frames) == 0:
            return []
        known = image_states or [None] * len(frames)
        missing = [i for i, states in enumerate(known) if states is None]
        computed = iter(self.vision_states(frames[missing]) if missing else ())
        states = [given if given is not None else next(computed) for given in known]
        return self.caption_states(torch.stack(states))

    @torch.inference_mode()
    def caption_states(self, image_states: torch.Tensor) -> list[str]:
        """Captions from vision states (B, 257, width): the Q-Former's query outputs, projected,
        take the prompt's image-token slots, and the decoder continues after BOS (what
        `Blip2ForConditionalGeneration.generate` does after its own vision pass)."""
        model = self.module
        query_states = blip2_features.query_states(model, image_states)
        input_ids = self.prompt_ids(len(image_states))
        embeddings = model.get_input_embeddings()(input_ids)
        image_slots = (input_ids == model.config.image_token_index).unsqueeze(-1)
        projection = model.language_projection
        image_inputs = projection(query_states.to(projection.weight.dtype)).to(embeddings.dtype)
        output = model.language_model.generate(
            input_ids=input_ids,
            inputs_embeds=embeddings.masked_scatter(image_slots, image_inputs),
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            **self.decoding.as_dict(),
        )
        new_tokens = output[:, input_ids.shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]


def caption_each(
    captioner: Captioner,
    frames: np.ndarray,
    image_states: list[torch.Tensor | None] | None = None,
) -> list[str | Exception]:
    """Caption a batch (`Captioner.caption`); when the batch fails, caption its frames one at a
    time so that a failure costs only its own frame. Returns a caption or the error, per frame."""
    known = image_states or [None] * len(frames)
    try:
        return list(captioner.caption(frames, known))
    except (RuntimeError, ValueError) as error:
        if len(frames) == 1:
            return [error]
    return [
        caption_each(captioner, frames[i : i + 1], known[i : i + 1])[0] for i in range(len(frames))
    ]


def same_vision_tower(captioner: Captioner, other: torch.nn.Module) -> bool:
    """Whether `other` (e.g. phi's BLIP-2 vision tower) computes what the captioner's does: the
    same class, dtype, device, configuration (the initialiser's range aside) and weights. The
    released BLIP-2 checkpoints all keep the frozen EVA ViT-g of stage one."""
    mine = captioner.module.vision_model
    if type(mine) is not type(other):
        return False

    def architecture(module) -> dict:
        return {k: v for k, v in module.config.to_dict().items() if k != "initializer_range"}

    if architecture(mine) != architecture(other):
        return False
    ours, theirs = mine.state_dict(), other.state_dict()
    return ours.keys() == theirs.keys() and all(
        ours[k].dtype == theirs[k].dtype
        and ours[k].device == theirs[k].device
        and torch.equal(ours[k], theirs[k])
        for k in ours
    )


def build_captioner(
    size: str = "full",
    weights: str | Path | None = None,
    device: str = "auto",
    random_weights: bool = False,
    seed: int = 0,
    decoding: DecodingSettings | None = None,
    tiny_language: bool = False,
    precision: str = "auto",
) -> Captioner:
    """A captioner ready for inference. `full` loads the blip2-opt-2.7b folder (raises
    WeightsNotFoundError naming the fetch command) unless `random_weights`; `tiny` is always
    random. `tiny_language` (full size, random weights only): the full vision tower and
    Q-Former with the tiny decoder."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    if tiny_language and (size != "full" or not random_weights):
        raise ValueError("tiny_language applies to the full size with random weights")
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    provenance = {"encoder": "blip2-captioner", "size": size, "dtype": dtype_name(dtype)}
    torch.manual_seed(seed)
    if size == "tiny" or random_weights:
        if size == "tiny":
            tokenizer = tiny_tokenizer()
            config = tiny_config(tokenizer)
        else:
            config = full_config(tiny_language)
            tokenizer = tiny_tokenizer() if tiny_language else placeholder_tokenizer(config)
        provenance.update(weights="random", seed=seed)
        if tiny_language:
            provenance["language"] = "tiny"
        model = Blip2ForConditionalGeneration(config)
    else:
        from transformers import AutoTokenizer

        provenance.update(weight_files.identify("blip2-captioner", weights))
        path = Path(provenance["weights"])
        model = Blip2ForConditionalGeneration.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return Captioner(model, tokenizer, torch_device, dtype, provenance, decoding)
