"""The English words and report patterns the rules read.

Every rule of ingest and of the answer stage that reads words reads them from here: the words that carry
no content, the abbreviations a sentence does not end at, the header lines of the State Department's
Trafficking in Persons Reports, and the wordings of each kind of question. Reading reports in another
language, or reports laid out another way, starts with this module. The model's prompts are not here:
they are written to the model, not read by a rule, and stay beside the judge in rag/answer/relevance.py.
"""

from __future__ import annotations

import re

# --- words ---------------------------------------------------------------------------------------------

# The Snowball stemmer's language (rag.text.stemmer), and the stopword list BM25 drops (bm25s's "en").
STEMMER_LANGUAGE = "english"
BM25_STOPWORDS = "en"
# Words that say nothing of what a sentence is about: left out of its content words.
STOPWORDS = frozenset(
    """
    a an the and or but if of in on at to for from by with about as into over under than then there
    is are was were be been being do does did done has have had having it its this that these those
    what which who whom whose when where why how whether any some all each many much more most such
    not no nor only own same so too very can could should would may might must will shall
    i me my we our you your he him his she her they them their one ones also report according
    out up off down yes
    """.split()
)
# Capitalised words that are not names of anything a source must mention.
COMMON_CAPS = frozenset({"yes", "no", "the", "according", "however", "i"})
# Words that deny what follows; a contracted "not" ("isn't") denies too.
NEGATORS = ("no", "not", "never", "none", "nor", "neither", "cannot")
CONTRACTED_NOT = r"n't"

# --- sentence boundaries -------------------------------------------------------------------------------

# Abbreviations a full stop follows without ending the sentence ("Art. 5", "Dr. Kim").
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st no nos art arts para paras sec vol fig etc e.g i.e vs cf approx jan feb mar
    apr jun jul aug sep sept oct nov dec inc ltd co corp dept gov govt
    """.split()
)
# English words that open a sentence; after an initialism, these (and the words that open a
# sentence elsewhere in the same document) signal a new sentence.
OPENERS = frozenset(
    """
    the a an in on at it its this that these those there their they he she we i his her however
    although while when after before since during despite according many most some several
    all each one two no none nor but and or yet so also
    """.split()
)

# --- names and their aliases ---------------------------------------------------------------------------

# A definition of a name's other forms: "The Democratic People's Republic of Korea (D. P. R. K. or North Korea)".
DEFINITION = re.compile(r"((?:[A-Z][\w'\u2019]*|of|the)(?:\s+(?:[A-Z][\w'\u2019]*|of|the))*)\s*\(([^()\n]{1,80})\)")
# What separates the forms inside a definition's parenthesis.
ALIAS_SEPARATOR = re.compile(r"\s+or\s+|,|;")
# The article a name may open with ("the D. P. R. K."), dropped when names are compared.
LEADING_ARTICLE = "the"
# Words inside a name that give it no initial and that two names sharing them need not share.
NAME_LINKS = frozenset({"of", "the", "and"})
# The possessive endings a name is read without ("North Korea's").
POSSESSIVES = ("'s ", "\u2019s ")
# An acronym, or the plural of one ("NGOs").
ACRONYM = re.compile(r"\b[A-Z]{2,}s?\b")

# --- report headers ------------------------------------------------------------------------------------

# A "Key Value" header line ("Publisher United States Department of State", "Publication Date 12 June 2007").
KEY_VALUE_LINE = re.compile(
    r"^(Publisher|Author|Publication Date|Date|Country|Title)[ \t]+(\S.*?)[ \t]*$", re.MULTILINE
)
# Header keys named otherwise than their field.
KEY_FIELDS = {"Publication Date": "date", "Date": "date"}
# A tier heading: "North Korea (Tier 3)", "HAITI (TIER 2 - WATCH LIST)", "Burma (Tier III)".
TIER_LINE = re.compile(
    r"^[ \t]*(?P<country>[A-Z][^\n()]{1,60}?)[ \t]*"
    r"\((?P<tier>tier[ \t]*(?P<level>[0-9]|i{1,3})"
    r"(?P<watch>[ \t]*[-\u2013\u2014]?[ \t]*watch[ \t]*-?[ \t]*list)?)\)[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# A date on a line of its own: "June 11, 2003", "12 June 2007".
DATE_LINE = re.compile(
    rf"^[ \t]*(?P<date>(?:{MONTHS})[ \t]+\d{{1,2}},?[ \t]+\d{{4}}|\d{{1,2}}[ \t]+(?:{MONTHS})[ \t]+\d{{4}})[ \t]*$",
    re.MULTILINE,
)
# An office named on a line of its own ("Office to Monitor and Combat Trafficking in Persons",
# "Released by the Bureau of ..."): the report's author.
OFFICE_LINE = re.compile(
    r"^[ \t]*(?:Released by[ \t]+(?:the[ \t]+)?)?"
    r"(?P<office>(?:Office|Bureau)[ \t]+(?:of|to|for)[ \t][^\n.]{3,90}?)[ \t]*$",
    re.MULTILINE,
)
# Words a name written in capitals keeps in lower case ("Bosnia and Herzegovina").
LOWER_IN_NAMES = frozenset({"and", "of", "the", "in", "on", "for", "to"})
# A header line naming a report is the title before any other heading-like line.
REPORT_WORD = re.compile(r"\breport\b", re.IGNORECASE)
# Each header field as an answer names it.
LABELS = {
    "title": "Title",
    "publisher": "Publisher",
    "author": "Author",
    "date": "Publication date",
    "country": "Country",
    "tier": "Tier",
}
# How a header line is described when matched against a question; its quote is the line itself.
FIELD_WORDS = {
    "title": "title of the report",
    "publisher": "publisher: who published the report",
    "author": "author: who wrote the report, the office",
    "date": "publication date: when the report was published, the year",
    "country": "country the report is about",
    "tier": "tier placement, the tier ranking of the country",
}
# What a header field's value stands for, in the words a report explains it with: asked why a report
# is on its tier, the answer is what it says of the government's compliance with the minimum standards
# (the tiers of the Trafficking in Persons Reports are defined by them).
FIELD_MEANING = {
    "tier": "the government complies with the minimum standards for the elimination of trafficking and "
    "makes significant efforts to meet them",
}

# --- what is not the report ----------------------------------------------------------------------------

# Lines of web-archive furniture that are not part of a report.
FURNITURE = re.compile(
    r"^[ \t]*(?:Last Updated:.*|Search Refworld|Cite as .*|Disclaimer.*|Print\s*|Share\s*)[ \t]*$",
    re.MULTILINE,
)
# Sentences written to a language model rather than to a reader: orders to drop the prompt's
# instructions, role labels, chat-template tokens. Official reports have no use for them.
INSTRUCTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:(?:of\s+)?(?:the|your|these|my)\s+)?"
    r"(?:previous|prior|above|earlier|preceding|system|original)\s+(?:instructions|prompts?|directions|rules)\b"
    r"|\b(?:developer|jailbreak|god)\s+mode\b|\bsystem\s+prompt\b"
    r"|<\|[a-z_]+\|>|\[/?INST\]|<</?SYS>>"
    r"|^[ \t]*(?:system|assistant)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)

# --- question kinds ------------------------------------------------------------------------------------

# A question answered by yes or no ("Does…", "Is…", "r they…").
ASKS_YES_NO = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+|also\s+)?(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|"
    r"should|may|might|must|r|isnt|arent|doesnt|dont|didnt|wasnt|werent|hasnt|havent)\b",
    re.IGNORECASE,
)
# A question asking for reasons.
ASKS_WHY = re.compile(r"\bwhy\b|\bhow come\b|\bwhat (?:is|are) the reasons?\b|\bfor what reasons?\b", re.IGNORECASE)
# A question asking for a summary of the report or of a topic.
ASKS_OVERVIEW = re.compile(
    r"\bsumm?ar|\bsum (?:it |this |that )?up\b|\boverview\b|\bgist\b|\btl;?dr\b|\brundown\b|\blowdown\b"
    r"|\b(?:main|key|major) (?:points?|findings?|takeaways?|issues?|themes?|problems?)\b"
    r"|\bwhat(?:'?s| is| does)\b[^?]*\b(?:report|document|narrative|text|it|this)\b[^?]*\babout\b"
    r"|\btell me (?:about|more)\b|\bin (?:a few|two|three|four|five|\d) (?:sentences|lines|words)\b"
    r"|\bbriefly\b|\bin short\b|\bdescribe\b|\bexplain\b[^?]*\b(?:situation|briefly|sentences)\b",
    re.IGNORECASE,
)
# A question asking for a list.
ASKS_LIST = re.compile(
    r"^\s*(?:list|name|enumerate|give me (?:a|the) list)\b|\b(?:all|each|every) (?:the )?\w+s\b"
    r"|\b(?:which|what) (?:(?:other|kinds? of|types? of|sorts? of) )?"
    r"(?!does\b|is\b|was\b|has\b|this\b|us\b)\w{3,}[^s\W]s\b",
    re.IGNORECASE,
)
# Header fields and the words that ask for each. A question asking when something was published
# asks for the date, not the publisher, so the date is tried first.
ASKS_FIELD: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(
            r"\bwhen\b[^?]*\b(?:publish|release|issu|come out|came out|written|dated|put out)\w*"
            r"|\b(?:publish|release|issu|wr[io]te|written)\w*\b[^?]*\bwhen\b"
            r"|\b(?:publication|release|issue) date\b|^\W*date\b|\bdated?\b[^?]*\breport\b"
            r"|\bwhat (?:year|date|day)\b[^?]*\b(?:report|publish|releas|this|it)\w*",
            re.IGNORECASE,
        ),
    ),
    ("tier", re.compile(r"\btiers?\b|\branking\b|\branked\b|\bwatch ?-?list\b", re.IGNORECASE)),
    (
        "author",
        re.compile(
            r"\bauthor\w*|\bwho (?:wrote|writes|prepared|compiled)\b|\bwritten by\b|\b(?:which|what) office\b",
            re.IGNORECASE,
        ),
    ),
    (
        "publisher",
        re.compile(r"\bpublish\w*|\bput out\b|\bissued\b|\bwho released\b|\bpublication\b", re.IGNORECASE),
    ),
    (
        "country",
        re.compile(
            r"\b(?:what|which) country\b[^?]*\b(?:about|cover|this|report)\w*|\bis (?:this|it|the report) about\b",
            re.IGNORECASE,
        ),
    ),
    ("title", re.compile(r"\btitle\b|\bwhat is (?:this|the) (?:report|document) called\b", re.IGNORECASE)),
)
# The tier a question names ("which countries are on Tier 3").
ASKS_TIER = re.compile(r"\btier[ \t]*(?P<level>[0-9]|i{1,3})\b(?P<watch>[ \t-]*watch[ \t-]*list)?", re.IGNORECASE)
# Words that say "the report" rather than what it is about; left out of an overview's topic
# (as written: rag.answer.intent stems them).
REPORT_WORDS_WRITTEN = (
    "report document narrative text paper summary summarize summarise overview gist tldr tl dr rundown "
    "lowdown main key major points point findings finding takeaways issues themes problems tell explain "
    "describe brief briefly short sentences sentence lines few two three four five pls please give "
    "quick whole entire deal going sum say says talk talks country countries tip trafficking persons what whats"
)
# Words that ask for a field, beyond the field's own name; they are not what the question is about
# (as written: rag.answer.fields stems them).
ASKING_WORDS_WRITTEN = (
    "tier tiers rank ranking ranked place placed put given get got gets receive received assign assigned "
    "publish published publisher publication author authored wrote written write writer office "
    "when date dated year day come came out release released issue issued title called name country "
    "countries cover covered covers here listed list which what who whose is on in of the full"
)
# Words by which a question points back at what an earlier turn named ("why are they leaving?").
REFERS_BACK = re.compile(
    r"\b(?:they|them|their|theirs|it|its|there|those|these|that|he|him|his|she|her|hers)\b", re.IGNORECASE
)
# A question asking how many or when, and what a sentence must hold to give it: an amount or a date.
ASKS_AMOUNT = re.compile(r"\bhow (?:many|much|long|old|often)\b|\bwhat (?:number|percentage|share|amount)\b", re.I)
ASKS_DATE = re.compile(r"^\W*(?:and |so )?when\b|\bwhat (?:year|date|month|day)\b", re.I)
STATES_AMOUNT = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|half|third|quarter|majority|most|few|several|many|none|no)\b",
    re.I,
)
STATES_DATE = re.compile(
    r"\b(?:1[89]|20)\d\d\b|\b(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December)\b",
)

# --- the model's replies -------------------------------------------------------------------------------

# The first tokens of a Yes and of a No, as the judge's probabilities read them.
YES = ("Yes", " Yes", "yes")
NO = ("No", " No", "no")
