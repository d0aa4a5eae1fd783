"""The model as a judge: does this sentence answer the question, and is the answer yes or no?

Both are read from the model's next-token distribution (the probability of "Yes" against "No"), one
short prompt per sentence: the constant instructions and worked examples come first, so that their
state is computed once and restored for every question, and only the question and the sentence are
read each time. A judge answers whether the report's own sentence answers; it never writes text the
reader sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.generate.protocol import EVEN_ODDS, GenerationOptions, Generator, Message, NextTokenScorer
from rag.language import NO, YES
from rag.text import one_line

YES_OR_NO = 'root ::= "Yes" | "No"\n'
# Tokens a reply under the Yes-or-No grammar may take: room for either word; chosen by hand.
REPLY_TOKENS = 2

ANSWERS_SYSTEM = (
    "You read one sentence from a report and a question. Decide whether someone could answer the question "
    "from this sentence alone. A sentence saying that something is not so answers a question asking whether "
    "it is so. Reply Yes or No."
)
# Measured on the dev rows of the six question sets (the two best-ranked sentences of 270 questions;
# `python -m bench.choice --compare-prompts`): this wording separated the sentences holding the answer
# from the others with an AUC of 0.772, and answerable questions from unanswerable ones (by the better
# of the two) with 0.847; "Does the sentence answer the question?" gave 0.729 and 0.807. Four worked
# examples before it did not help (0.774 against 0.785 on 60 questions, with the earlier wording).
ANSWERS_EXAMPLES: tuple[tuple[str, str, str], ...] = ()
ANSWERS_ASK = "Can the question be answered from this sentence alone?"

POLARITY_SYSTEM = (
    "You read a sentence from a report and a yes-or-no question about it. Reply Yes when the sentence says "
    "the answer is yes, No when it says the answer is no."
)
POLARITY_EXAMPLES = (
    ("did the ministry open any shelters", "There were no shelters for victims anywhere in the country.", "No"),
    ("are migrants sent to farms", "Migrants were sent to work on farms in the south and on fishing boats.", "Yes"),
    ("is the law enforced", "The new law is not yet fully enforced.", "No"),
    ("do officials punish victims", "These laws are used against both traffickers and victims.", "Yes"),
)
POLARITY_ASK = "According to the sentence, is the answer yes or no?"


def prompt_messages(
    system: str, examples: Sequence[tuple[str, str, str]], ask: str, question: str, sentence: str, earlier: str
) -> list[Message]:
    """Constant instructions and worked examples first, then one question and one sentence, each on one line."""
    messages: list[Message] = [{"role": "system", "content": system}]
    for q, s, reply in examples:
        messages += [
            {"role": "user", "content": f"Question: {q}\nSentence: {s}\n{ask}"},
            {"role": "assistant", "content": reply},
        ]
    before = f"Earlier question: {one_line(earlier)}\n" if earlier else ""
    messages.append(
        {"role": "user", "content": f"{before}Question: {one_line(question)}\nSentence: {one_line(sentence)}\n{ask}"}
    )
    return messages


def answers_messages(question: str, sentence: str, earlier: str = "") -> list[Message]:
    """The prompt asking whether `sentence` answers `question` (`earlier`: the previous question of a follow-up)."""
    return prompt_messages(ANSWERS_SYSTEM, ANSWERS_EXAMPLES, ANSWERS_ASK, question, sentence, earlier)


def polarity_messages(question: str, sentence: str, earlier: str = "") -> list[Message]:
    """The prompt asking whether `sentence` answers the yes/no `question` with yes or with no."""
    return prompt_messages(POLARITY_SYSTEM, POLARITY_EXAMPLES, POLARITY_ASK, question, sentence, earlier)


def judge(model: NextTokenScorer | Generator, messages: Sequence[Message]) -> float:
    """The probability that the reply is Yes: P(Yes) / (P(Yes) + P(No)) for its first token (0.5 when the
    model gives neither); a model that cannot tell probabilities replies under a Yes-or-No grammar (1 or 0)."""
    if isinstance(model, NextTokenScorer):
        yes = model.next_token_probability(messages, YES)
        no = model.next_token_probability(messages, NO)
        return yes / (yes + no) if yes + no > 0 else EVEN_ODDS
    reply = "".join(model.generate(messages, GenerationOptions(max_tokens=REPLY_TOKENS, grammar=YES_OR_NO)))
    return 1.0 if reply.strip().lower().startswith("yes") else 0.0
