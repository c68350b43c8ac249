"""Markdown rendered once, safely: CommonMark + tables, highlighted code, raw HTML inert."""

from labeling.markdown import markdown_html


def test_lists_tables_and_headings_render():
    html = markdown_html("## Steps\n\n- one\n- two\n\n1. first\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h2>Steps</h2>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n</ol>" in html
    assert "<table>" in html and "<th>a</th>" in html and "<td>2</td>" in html


def test_fenced_code_is_highlighted_with_classes_not_inline_styles():
    html = markdown_html('```python\ndef f(x):\n    return "hi"\n```\n')
    assert html.startswith('<pre><code class="language-python">')
    assert '<span class="k">def</span>' in html and '<span class="nf">f</span>' in html
    assert '<span class="s2">"hi"</span>' in html
    assert "style=" not in html
    # An unknown language is shown escaped, unhighlighted.
    plain = markdown_html("```nosuchlang\n<b>x</b>\n```\n")
    assert "&lt;b&gt;x&lt;/b&gt;" in plain and "<span" not in plain


def test_raw_html_is_inert_text():
    html = markdown_html('<script>alert(1)</script>\n\nhi <img src=x onerror="alert(2)"> <b>bold</b>')
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=\"alert(2)\"&gt;" in html or "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html


def test_javascript_links_are_removed_and_others_get_rel():
    html = markdown_html("[bad](javascript:alert(1)) [also](JAVASCRIPT:alert(1)) [ok](https://example.com/a)"
                         " <javascript:alert(3)> [data](data:text/html;base64,PHNjcmlwdD4=)")
    assert 'href="javascript' not in html.lower() and 'href="data:' not in html
    assert '<a href="https://example.com/a" rel="nofollow noopener">ok</a>' in html
    assert html.count("<a ") == 1


def test_remote_images_are_not_loaded_but_stay_reachable_as_a_link():
    html = markdown_html("look: ![a cat](https://example.com/cat.png)")
    assert "<img" not in html
    assert '<a href="https://example.com/cat.png" rel="nofollow noopener">a cat</a>' in html


def test_html_entities_and_autolinks_do_not_smuggle_tags():
    html = markdown_html("&lt;script&gt; and <https://example.com> and `<i>code</i>`")
    assert "<script" not in html and "<i>" not in html
    assert "<code>&lt;i&gt;code&lt;/i&gt;</code>" in html
    assert 'href="https://example.com" rel="nofollow noopener"' in html
