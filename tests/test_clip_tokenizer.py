"""clip.tokenize and SimpleTokenizer against open_clip's tokenizer (same vocabulary, independent code)."""
import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer as OpenClipTokenizer

from clip import clip
from clip.simple_tokenizer import SimpleTokenizer

TRICKY = [
    "a photo of a cat.",
    "",
    "   Leading and    trailing   spaces   ",
    "A PHOTO OF A Dog!!! (really?) -- yes; it's [the] dog's toy: 100%",
    "naïve café résumé — Zürich, 東京, 서울, Москва",
    "emoji 🐱🚀 and symbols ©®™ ½ ∞ ≠",
    "html &amp; entities &lt;b&gt; and &amp;amp; twice",
    "mojibake â€œquotedâ€\x9d text",
    "numbers 3.14159 and 2024-01-01 and 1,000,000",
    "we'll they're I'm you've it'd",
    "tabs\tand\nnewlines\r\nhere",
    "a_photo_of_a forest_path",
]


@pytest.fixture(scope="module")
def reference():
    return OpenClipTokenizer(context_length=77)


def test_tokenize_equals_open_clip_on_tricky_strings(reference):
    ours = clip.tokenize(TRICKY)
    assert ours.dtype == torch.long and ours.shape == (len(TRICKY), 77)
    assert torch.equal(ours, reference(TRICKY))


def test_known_ids_of_a_prompt():
    assert clip.tokenize("a photo of a cat.")[0, :8].tolist() == [49406, 320, 1125, 539, 320, 2368, 269, 49407]


def test_literal_special_tokens_map_to_their_ids_as_in_openai():
    """OpenAI's tokenizer matches its own special-token spellings inside the text; open_clip renamed them."""
    ids = clip.tokenize("<|startoftext|> cat <|endoftext|>")[0, :5].tolist()
    assert ids == [49406, 49406, 2368, 49407, 49407]
    assert SimpleTokenizer().decode([49406, 2368, 49407]) == "<|startoftext|>cat <|endoftext|>"


def test_encode_decode_round_trip(reference):
    tokenizer = SimpleTokenizer()
    for text in TRICKY[3:7]:
        ids = tokenizer.encode(text)
        assert ids == reference.encode(text)
        assert tokenizer.decode(ids) == reference.decode(ids)
    assert tokenizer.decode(tokenizer.encode("A photo of a Cat.")) == "a photo of a cat . "


def test_long_text_truncates_like_open_clip_or_raises_naming_it(reference):
    long_text = "a very long caption about a small cat " * 20
    truncated = clip.tokenize([long_text, "short"], truncate=True)
    assert torch.equal(truncated, reference([long_text, "short"]))
    assert truncated[0, -1].item() == 49407
    with pytest.raises(RuntimeError, match="too long for context length 77") as error:
        clip.tokenize([long_text])
    assert "a very long caption" in str(error.value) and "truncate=True" in str(error.value)


def test_context_length_is_respected(reference):
    ids = clip.tokenize("a photo of a cat.", context_length=10)
    assert ids.shape == (1, 10)
    fitting = "one two three four five six seven eight"
    assert clip.tokenize(fitting, context_length=10)[0, -1].item() == 49407
    with pytest.raises(RuntimeError, match="context length 9"):
        clip.tokenize(fitting, context_length=9)


def test_a_missing_open_clip_package_says_how_to_install_it(monkeypatch):
    from clip import simple_tokenizer

    monkeypatch.setattr(simple_tokenizer.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"open_clip_torch package, which is not installed; run `pip install -r"):
        simple_tokenizer.default_bpe()


def test_start_up_imports_neither_open_clip_nor_the_hub_client(repo_root):
    """Every run pays for what train.py imports: the tokenizer finds open_clip's vocabulary file without
    importing open_clip (timm and more), and the hub and safetensors are imported only to download."""
    import subprocess
    import sys

    code = "import sys, train; print(sorted({'open_clip', 'huggingface_hub', 'safetensors.torch'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
