"""Tiny, randomly initialised stand-ins for the hub models, built offline.

Each ``make_tiny_*`` factory writes a model folder that loads *by path* through the same loaders
as the real checkpoint (``SentenceTransformer(path)``, ``AutoModel`` / ``AutoProcessor``,
``ClapModel`` / ``ClapProcessor``), with the same model classes, processors and preprocessing
settings, but with hidden sizes of 16-64 and hand-made vocabularies. The folders are well under
1 MB; a build takes about 2 s in a fresh process (mostly lazy imports), well under 1 s after
that. Weights come from a fixed seed inside :func:`torch.random.fork_rng`, so builds are
deterministic and the global RNG of the calling test is left alone.

The embeddings are meaningless (random weights); use these to test plumbing (loading, shapes,
batching, dtype, normalisation, storage), never retrieval quality.

``folder`` is the model folder itself: it is created when missing and must be empty.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

#: Shared image/text embedding size of :func:`make_tiny_clip` (``projection_dim``).
TINY_CLIP_DIM = 16
#: Embedding size of :func:`make_tiny_siglip` (vision ``hidden_size`` = text ``projection_size``).
TINY_SIGLIP_DIM = 32
#: Shared audio/text embedding size of :func:`make_tiny_clap` (``projection_dim``).
TINY_CLAP_DIM = 16

_SEED = 0

# Common Chinese characters (plus a few Japanese kana) for the WordPiece vocabulary, so that
# everyday Chinese text tokenizes to real tokens, not [UNK].
_CJK_CHARS = (
    "的一是不了人我在有他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年"
    "过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心"
    "她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间"
    "由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给"
    "世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变"
    "四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社"
    "便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北"
    "边死张该交规万取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每车"
    "亲极林服快办议往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质团集"
    "百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消越器容照须九增研写称企八"
    "功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅考落"
    "青随选列武红响虽推势参希古众构房半节土投某案黑维革划敌致陈律足态护七兴派孩验责营星够章音跟"
    "猫狗鸟鱼马牛羊猪鸡花草树海山河湖雨雪云春夏秋冬早晚饭茶咖啡朋友妈爸哥姐弟妹照片音乐视频狮"
    "只一只两只桌椅门窗街路桥船飞机火车汽车自行雪景沙滩日落日出夜晚蓝绿黄黑白红灰紫色"
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
)


@contextmanager
def _seeded() -> Iterator[None]:
    """Seed torch for a deterministic build without disturbing the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        yield


def _prepare(folder: Path) -> Path:
    """Create ``folder`` (parents included) and refuse to write into a non-empty one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"model folder is not empty: {folder}")
    return folder


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _byte_to_unicode() -> list[str]:
    """The 256 printable stand-ins for raw bytes used by GPT-2 style byte-level BPE."""
    keep = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [mapping[b] for b in range(256)]


def _add_merges(vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """Append the tokens produced by ``merges`` to ``vocab``."""
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))


def _word_merges(words: list[str], prefix: str = "", suffix: str = "") -> list[tuple[str, str]]:
    """Left-to-right BPE merges that build each word as one token (``prefix`` + word + ``suffix``).

    ``prefix`` is a separate leading symbol (RoBERTa's ``Ġ``, Gemma's ``▁``); ``suffix`` is glued
    to the last letter (CLIP's ``</w>``). Each merge's left part is made by the merge before it.
    """
    merges: list[tuple[str, str]] = []
    for word in words:
        pieces = [*([prefix] if prefix else []), *word[:-1], word[-1] + suffix]
        left = pieces[0]
        for piece in pieces[1:]:
            merges.append((left, piece))
            left += piece
    return list(dict.fromkeys(merges))


_BPE_WORDS = ["a", "the", "photo", "of", "cat", "dog", "sound", "music", "car", "sea"]


def _clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style byte-level BPE (``</w>`` word ends) that can encode any UTF-8 text."""
    chars = _byte_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    merges = _word_merges(_BPE_WORDS, suffix="</w>")
    _add_merges(vocab, merges)
    # As in the real vocabulary, the two special tokens come last (eos has the highest id).
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def _roberta_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A RoBERTa-style byte-level BPE (``Ġ`` marks a leading space) covering any UTF-8 text."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in _byte_to_unicode():
        vocab.setdefault(c, len(vocab))
    merges = _word_merges(_BPE_WORDS, prefix="Ġ")
    _add_merges(vocab, merges)
    vocab["<mask>"] = len(vocab)
    return vocab, merges


def _gemma_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A Gemma-style BPE (``▁`` for spaces, byte fallback) that can encode any text."""
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    vocab.update({f"<0x{b:02X}>": 5 + b for b in range(256)})
    for c in "▁" + string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(c, len(vocab))
    merges = _word_merges(_BPE_WORDS, prefix="▁")
    _add_merges(vocab, merges)
    return vocab, merges


def _wordpiece_vocab() -> list[str]:
    """A cased multilingual-BERT style WordPiece vocabulary: ASCII, Latin-1 letters and CJK."""
    letters = string.ascii_letters + string.digits + "àáâäçèéêëìíîïñòóôöùúûüßÀÁÂÄÇÈÉÊÑÖÜ"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += list(letters) + list(string.punctuation)
    tokens += ["##" + c for c in letters]
    tokens += ["the", "photo", "of", "cat", "dog", "car", "sea", "music"]
    tokens += list(_CJK_CHARS)
    return list(dict.fromkeys(tokens))


def make_tiny_clip(folder: Path) -> Path:
    """A tiny ``sentence-transformers/clip-ViT-B-32``: one ``SentenceTransformer`` for both towers.

    Same layout as the hub repo: ``modules.json`` names the legacy type
    ``sentence_transformers.models.CLIPModel`` at ``0_CLIPModel/``, which holds a
    ``transformers.CLIPModel`` (224 px input, 32 px patches, 77 text positions) and its
    ``CLIPProcessor`` (standard OpenAI CLIP image settings, byte-level BPE tokenizer).
    ``encode`` maps PIL images and strings to the same :data:`TINY_CLIP_DIM`-d space,
    unnormalised, like the real model.
    """
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    folder = _prepare(folder)
    vocab, merges = _clip_bpe()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)  # type: ignore[arg-type]
    image_processor = CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": 224},
        resample=3,  # PIL bicubic
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True,
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 224,
            "patch_size": 32,
        },
        projection_dim=TINY_CLIP_DIM,
    )
    with _seeded():
        model = CLIPModel(config).eval()
    module_dir = folder / "0_CLIPModel"
    model.save_pretrained(module_dir)
    processor.save_pretrained(module_dir)
    _write_json(
        folder / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "0_CLIPModel",
                "type": "sentence_transformers.models.CLIPModel",
            }
        ],
    )
    return folder


def make_tiny_multilingual_text(folder: Path, dim: int = TINY_CLIP_DIM) -> Path:
    """A tiny ``sentence-transformers/clip-ViT-B-32-multilingual-v1`` text encoder.

    Same pipeline and hub layout: ``Transformer`` (``DistilBertModel``, cased WordPiece,
    ``max_seq_length`` 128) -> ``1_Pooling`` (mean) -> ``2_Dense`` (no bias, identity
    activation) to ``dim``. Pass the image model's size (:data:`TINY_CLIP_DIM` by default) so the
    text vectors land in the tiny CLIP's space, as the real one targets clip-ViT-B-32's 512.
    The vocabulary holds ASCII, accented Latin letters and a few hundred common CJK characters.
    """
    try:
        from sentence_transformers.sentence_transformer.modules import Dense
    except ImportError:  # sentence-transformers < 5.4
        from sentence_transformers.models import Dense  # type: ignore[no-redef]
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizer

    folder = _prepare(folder)
    tokens = _wordpiece_vocab()
    tokenizer = DistilBertTokenizer(
        vocab={token: i for i, token in enumerate(tokens)},
        do_lower_case=False,
        tokenize_chinese_chars=True,
        model_max_length=512,
    )
    hidden = 32
    config = DistilBertConfig(
        vocab_size=len(tokens),
        dim=hidden,
        hidden_dim=64,
        n_layers=2,
        n_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    with _seeded():
        model = DistilBertModel(config).eval()
        dense = Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity())
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _write_json(
        folder / "sentence_bert_config.json", {"max_seq_length": 128, "do_lower_case": False}
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (folder / "2_Dense").mkdir()
    dense.save(str(folder / "2_Dense"))
    modules = [("0", "", "Transformer"), ("1", "1_Pooling", "Pooling"), ("2", "2_Dense", "Dense")]
    _write_json(
        folder / "modules.json",
        [
            {"idx": i, "name": name, "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (name, path, kind) in enumerate(modules)
        ],
    )
    return folder


def make_tiny_siglip(folder: Path) -> Path:
    """A tiny ``google/siglip2-base-patch16-224``: ``SiglipModel`` + ``SiglipProcessor``.

    That is the fixed-resolution SigLIP 2 layout (``model_type`` ``siglip``, Gemma BPE tokenizer
    from ``tokenizer.json``), chosen because the original SigLIP tokenizer (``SiglipTokenizer``,
    ``spiece.model``) needs the ``sentencepiece`` package. Images: 224x224 (16 px patches),
    text: 64 positions, padded with ``padding="max_length"``. Embeddings are
    :data:`TINY_SIGLIP_DIM`-d.
    """
    from transformers import (
        GemmaTokenizer,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
    )

    folder = _prepare(folder)
    vocab, merges = _gemma_bpe()
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]
        model_max_length=64,
        add_bos_token=False,
        add_eos_token=True,
        padding_side="right",
    )
    image_processor = SiglipImageProcessor(
        do_resize=True,
        size={"height": 224, "width": 224},
        resample=3,  # PIL bicubic
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = SiglipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "projection_size": TINY_SIGLIP_DIM,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": TINY_SIGLIP_DIM,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 224,
            "patch_size": 16,
        },
    )
    with _seeded():
        model = SiglipModel(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def make_tiny_clap(folder: Path) -> Path:
    """A tiny ``laion/clap-htsat-unfused``: ``ClapModel`` + ``ClapProcessor``.

    RoBERTa text tower (byte-level BPE, 512 tokens), HTSAT audio tower without feature fusion,
    and the stock 48 kHz ``ClapFeatureExtractor`` (64 mel bins, 10 s windows, ``repeatpad``) with
    ``truncation="rand_trunc"``: the class default ``"fusion"`` emits 4 stacked mels, which only a
    fusion model accepts. Embeddings are :data:`TINY_CLAP_DIM`-d and L2-normalised by the model.
    """
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    folder = _prepare(folder)
    vocab, merges = _roberta_bpe()
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=512)  # type: ignore[arg-type]
    feature_extractor = ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=48_000,
        hop_length=480,
        max_length_s=10,
        fft_window_size=1024,
        frequency_min=0,
        frequency_max=14_000,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    processor = ClapProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)
    patch_hidden = 32
    depths = [1, 1]
    config = ClapConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 514,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        audio_config={
            # The last Swin stage's width: the patch width doubles at every stage after the first.
            "hidden_size": patch_hidden * 2 ** (len(depths) - 1),
            "patch_embeds_hidden_size": patch_hidden,
            "depths": depths,
            "num_attention_heads": [2, 2],
            "enable_fusion": False,
        },
        projection_dim=TINY_CLAP_DIM,
    )
    with _seeded():
        model = ClapModel(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
