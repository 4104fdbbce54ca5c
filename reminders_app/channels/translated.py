"""Mail templates compiled once per language with their constant messages translated.

A mail's templates mark their text with `{% translate %}` and `{% blocktranslate %}`,
as any Django template does (makemessages finds them there). Rendered as they are,
every mail looks each message up again and runs the tags' machinery: a dozen messages
more than doubled the rendering of a reminder, on the delivery threads, under the
GIL (docs/performance.md, "Email"). TranslatedTemplates compiles each template once
per language and swaps each tag whose message is constant (a literal, no plural, no
`as`) for what Django would render of it: a `{% translate %}` for its text, a
`{% blocktranslate %}` for its translation's text between its variables, each
variable rendered as the tag renders it; `{% get_current_language %}` answers the
template's language. Any other tag is left as it is. What a
template renders is the same, character for character (tests/test_message_bytes.py
compares both ways for every template and language).
"""

import re

from django.template import Context
from django.template.base import (
    FilterExpression,
    Node,
    Template,
    TextNode,
    Variable,
    render_value_in_context,
)
from django.template.defaulttags import IfNode
from django.template.loader import get_template
from django.templatetags.i18n import BlockTranslateNode, GetCurrentLanguageNode, TranslateNode
from django.utils import translation
from django.utils.safestring import SafeData

# A translation's pieces: "%%" (a percent sign), "%(name)s" (a variable); any other
# "%" is a format this module does not render, and leaves to Django.
PIECE = re.compile(r"%%|%\((\w+)\)s|%")


class TranslatedTemplates:
    """Templates by name, compiled once per language (of()) with their constant
    messages translated."""

    def __init__(self, names: list[str]):
        self.templates = [get_template(name) for name in names]
        self.languages: dict[str, list] = {}

    def of(self, language: str) -> list:
        """The templates in `language`. Compiling is cheap and the same each time: two
        threads asking at once for a language compile it twice, harmlessly."""
        if (compiled := self.languages.get(language)) is None:
            with translation.override(language):
                compiled = self.languages[language] = [translated(t) for t in self.templates]
        return compiled


def translated(template):
    """`template` (a Django backend's template) compiled anew, its constant messages in
    the active language."""
    original = template.template
    fresh = Template(
        original.source, origin=original.origin, name=original.name, engine=original.engine
    )
    translate_messages(fresh.nodelist)
    return type(template)(fresh, template.backend)


def translate_messages(nodelist) -> None:
    """Replace, in place and in every nested node list, each tag with a constant
    message by its translation."""
    for index, node in enumerate(nodelist):
        if isinstance(node, TranslateNode):
            nodelist[index] = translated_text(node) or node
        elif isinstance(node, BlockTranslateNode):
            nodelist[index] = TranslatedBlock.of(node) or node
        elif isinstance(node, GetCurrentLanguageNode):
            nodelist[index] = placed(CurrentLanguage(node.variable), node)
        else:
            nested = [getattr(node, name, None) for name in node.child_nodelists]
            if isinstance(node, IfNode):  # its branches, not its `nodelist` (a copy)
                nested = [branch for _, branch in node.conditions_nodelists]
            for child in nested:
                if child:
                    translate_messages(child)


def literal(expression: FilterExpression | None) -> bool:
    """Whether a tag's argument is a constant string."""
    if expression is None or expression.filters:
        return False
    var = expression.var
    return isinstance(var, str) or (isinstance(var, Variable) and var.literal is not None)


def translated_text(node: TranslateNode) -> TextNode | None:
    """`{% translate "literal" %}`: what the tag renders, once. A literal is safe, so
    is its translation, and the tag's output does not depend on where it is (its
    autoescaping): checked, else None."""
    if node.noop or node.asvar or not literal(node.filter_expression):
        return None
    if node.message_context is not None and not literal(node.message_context):
        return None
    text = node.render(Context())
    if not isinstance(text, SafeData):
        return None
    return placed(TextNode(text), node)


class TranslatedBlock(Node):
    """`{% blocktranslate %}` of a constant message: its translation's text between its
    variables, each rendered as the tag renders them (render_value_in_context), with
    the tag's `with` values."""

    child_nodelists = ()

    def __init__(self, extra_context: dict, pieces: list[tuple[str, str | None]]):
        self.extra_context = extra_context
        self.pieces = pieces  # (text, the variable after it or None)

    @classmethod
    def of(cls, node: BlockTranslateNode) -> "TranslatedBlock | None":
        if node.plural or node.countervar or node.asvar:
            return None
        if node.message_context is not None and not literal(node.message_context):
            return None
        singular, names = node.render_token_list(node.singular)
        if node.message_context is not None:
            message = translation.pgettext(node.message_context.resolve(Context()), singular)
        else:
            message = translation.gettext(singular)
        pieces, text, at = [], "", 0
        for match in PIECE.finditer(message):
            text += message[at : match.start()]
            at = match.end()
            if match.group() == "%%":
                text += "%"
            elif match.group(1) in names:
                pieces.append((text, match.group(1)))
                text = ""
            else:  # a format or a name Django would not fill in: Django renders it
                return None
        pieces.append((text + message[at:], None))
        return placed(cls(node.extra_context, pieces), node)

    def render(self, context):
        if not self.extra_context:
            return self.render_pieces(context)
        context.update({name: value.resolve(context) for name, value in self.extra_context.items()})
        try:
            return self.render_pieces(context)
        finally:
            context.pop()

    def render_pieces(self, context) -> str:
        rendered = []
        for text, name in self.pieces:
            rendered.append(text)
            if name is None:
                continue
            try:
                value = context[name]
            except KeyError:
                missing = context.template.engine.string_if_invalid
                value = missing % name if "%s" in missing else missing
            rendered.append(render_value_in_context(value, context))
        return "".join(rendered)


class CurrentLanguage(Node):
    """`{% get_current_language as name %}` in a template compiled for one language."""

    child_nodelists = ()

    def __init__(self, variable: str):
        self.variable = variable
        self.language = translation.get_language()

    def render(self, context):
        context[self.variable] = self.language
        return ""


def placed(new: Node, old: Node) -> Node:
    """`new` where `old` was in its template (for error reports in debug mode)."""
    new.token, new.origin = old.token, old.origin
    return new
