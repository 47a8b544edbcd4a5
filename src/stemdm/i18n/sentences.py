"""Chinese for the sentences the review builds in Python with numbers and names inside (reasons an analysis
was not done, GRADE reasons, how a row's numbers were obtained, notes, next-trial statements).

Each family of sentence has one English pattern and one Chinese template with the same named parts; names
inside (subgroup variables, event types, outcomes) go through the term catalog. A compound sentence ("a; b")
is translated part by part; a sentence with any part no pattern knows is returned as None, so the report
shows it in English, marked lang="en", rather than half translated.
"""

from __future__ import annotations

import functools
import re

from stemdm.i18n import translations

#: (English pattern, Chinese template); {name} parts are filled from the match, {name|term} through terms
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"CI includes no effect", "置信区间包含无效应"),
    (r"credible interval includes no effect", "可信区间包含无效应"),
    (r"n = (?P<n>\d+) below the optimal information size (?P<ois>\d+)", "n = {n}，低于最优信息量 {ois}"),
    (
        r"n = (?P<n>\d+) below the optimal information size not computable \(not sized for (?P<m>\w+)\)",
        "n = {n}，最优信息量无法计算（未按 {m} 估算）",
    ),
    (r"n = (?P<n>\d+) reaches the optimal information size (?P<ois>\d+)", "n = {n}，达到最优信息量 {ois}"),
    (r"I2 = (?P<i>\d+)% \(> (?P<t>\d+)%\)", "I² = {i}%（> {t}%）"),
    (r"I2 = (?P<i>\d+)% \(<= (?P<t>\d+)%\)", "I² = {i}%（≤ {t}%）"),
    (
        r"no RoB 2 judgements recorded for these trials: risk of bias cannot be judged low",
        "这些试验没有记录 RoB 2 评价：偏倚风险不能判为低",
    ),
    (r"not assessable \(k = (?P<k>\d+) < (?P<m>\d+)\)", "无法评估（k = {k} < {m}）"),
    (r"not rated down", "未降级"),
    (r"population, intervention and outcome match the question", "人群、干预和结局与研究问题一致"),
    (r"(?P<n>\d+) trial \((?P<t>[^)]+)\)", "{n} 项试验（{t}）"),
    (r"no pooling \(its own effect is shown\)", "不合并（显示其自身效应）"),
    (r"every (?P<v>\w+) subgroup has a single trial \((?P<l>.+)\)", "每个{v|term}亚组只有一项试验（{l}）"),
    (
        r"the comparison would be the difference between trials, not tested",
        "比较的将是试验之间的差异，故不检验",
    ),
    (r"all (?P<n>\d+) trials have (?P<v>\w+) = (?P<l>[\w-]+)", "全部 {n} 项试验的{v|term}均为 {l|term}"),
    (r"no subgroup comparison", "不做亚组比较"),
    (
        r"(?P<n>\d+) trial\(s\) with a dose in cells/kg \((?P<d>\d+) distinct\)",
        "{n} 项试验报告了以细胞数/kg 计的剂量（{d} 种不同剂量）",
    ),
    (
        r"meta-regression needs >= (?P<k>\d+) trials and >= (?P<d>\d+) doses",
        "荟萃回归需要 ≥ {k} 项试验和 ≥ {d} 种剂量",
    ),
    (
        r"(?P<t>\w+): final scores: insulin dose IU/kg/day -> IU/day needs a body weight \(kg\); none was given",
        "{t}：终点值：胰岛素剂量由 IU/kg/day 换算为 IU/day 需要体重（kg），但未提供",
    ),
    (r"no eligible trial reports it in this window", "该时间窗内没有合格试验报告此结局"),
    (r"no eligible trial reports usable numbers in this window", "该时间窗内没有合格试验报告可用的数值"),
    (
        r"k = (?P<k>\d+) under test='knha': t on (?P<df>\d+) df, so the interval is very wide",
        "k = {k}，采用 Knapp-Hartung 检验：t 分布自由度为 {df}，因此区间很宽",
    ),
    (
        r"the confidence interval extends beyond the possible range of a risk difference \(-1 to 1\): with k = "
        r"(?P<k>\d+) trials the interval says nothing",
        "置信区间超出率差的可能范围（-1 至 1）：仅有 {k} 项试验时该区间没有信息量",
    ),
    (r"read the credible interval", "请参阅可信区间"),
    (r"(?P<n>\d+) trial\(s\) left", "剩余 {n} 项试验"),
    (r"no pooling", "不合并"),
    (r"no risk-of-bias judgements recorded", "没有记录偏倚风险评价"),
    (r"no trial has an unlabelled ±", "没有试验使用未注明的 ±"),
    (r"(?P<t>\w+): (?P<e>\w+) reported for one arm only", "{t}：{e|term}仅一组报告"),
    (
        r"no events in either arm of (?P<n>\d+) trial\(s\): risk ratio not estimable",
        "{n} 项试验两组均无事件：无法估计相对危险度",
    ),
    (
        r"k = (?P<k>\d+) < (?P<m>\d+): small-study effects and publication bias cannot be assessed by funnel-plot tests",
        "k = {k} < {m}：无法用漏斗图检验评估小样本研究效应和发表偏倚",
    ),
    (r"(?P<a>cells|control): n analysed not reported", "{a|term}：未报告分析例数"),
    (r"randomized n = (?P<n>\d+) used", "使用随机例数 n = {n}"),
    (
        r"(?P<a>cells|control): pm_as_sd \(user choice: unlabelled ± read as SD\)",
        "{a|term}：未注明的 ± 按标准差处理（用户选择）",
    ),
    (
        r"(?P<x>[\d.]+) added to the cells of studies with a zero cell \(row (?P<r>\d+)\)",
        "对含零单元格的研究各单元格加 {x}（第 {r} 行）",
    ),
    (
        r"cells (?P<a>\d+)/(?P<b>\d+) vs control (?P<c>\d+)/(?P<d>\d+), (?P<m>\w+) as in metafor's escalc",
        "细胞治疗组 {a}/{b}，对照组 {c}/{d}，{m} 按 metafor 的 escalc 计算",
    ),
    (
        r"a reported between-group contrast exists too; arm-level numbers take precedence",
        "另有报告的组间比较；优先使用分组数据",
    ),
    (
        r"arm (?P<a>\w+) \((?P<c>\w+)\) left out: not one of the protocol's cell types",
        "组 {a}（{c|term}）被排除：不属于方案规定的细胞类型",
    ),
    (r"no prediction interval \(fewer than 2 trials\)", "无预测区间（试验少于 2 项）"),
    (
        r"the prediction interval \[(?P<a>[^,]+), (?P<b>[^\]]+)\] includes no effect: in a new setting the effect may be "
        r"nil, so no sample size guarantees a positive trial",
        "预测区间 [{a}, {b}] 包含无效应：在新的情境中效应可能为零，任何样本量都不能保证试验得到阳性结果",
    ),
    (r"the prediction-interval limit nearest no effect is (?P<x>\S+)", "预测区间中最接近无效应的界限为 {x}"),
    (
        r"[Dd]etecting the minimal important difference with (?P<p>[\d.]+)% power needs (?P<n>\d+) patients, "
        r"(?P<r>[\d.]+) times the largest trial so far \((?P<l>\d+)\): larger, multicentre trials are needed",
        "以 {p}% 的检验效能检出最小重要差值需要 {n} 例患者，是迄今最大试验（{l} 例）的 {r} 倍：需要更大规模的多中心试验",
    ),
    (
        r"[Tt]he largest trial so far \((?P<l>\d+)\) already had the size to detect the minimal important difference "
        r"\((?P<n>\d+) needed\)",
        "迄今最大的试验（{l} 例）已具备检出最小重要差值所需的样本量（需要 {n} 例）",
    ),
    (
        r"the remaining uncertainty comes from heterogeneity between trials, which more and more varied trials, not a "
        r"larger single one, resolve",
        "剩余的不确定性来自试验间的异质性，需要更多、更多样的试验而非单个更大的试验来解决",
    ),
    (
        r"[Dd]etecting the minimal important difference with (?P<p>[\d.]+)% power would need more than (?P<n>[\d,]+) "
        r"patients: no trial can",
        "以 {p}% 的检验效能检出最小重要差值需要超过 {n} 例患者：任何试验都无法做到",
    ),
    (r"check the protocol's MID", "请核对方案中的最小重要差值"),
    (
        r"(?P<f>randomized|inclusion status|cell type) '(?P<v>[\w-]+)' not in the protocol's (?P<l>.+)",
        "{f|term} “{v|term}” 不在方案规定的范围（{l}）之内",
    ),
    (r"may share participants with (?P<a>\w+)", "可能与 {a} 有重叠的受试者"),
    (r"the larger trial \((?P<a>\w+)\) is kept", "保留较大的试验（{a}）"),
    (r"(?P<o>[a-z][a-z_0-9]*) (?P<m>\d+) months", "{o|term}，{m} 个月"),
    (
        r"(?P<t>\w+): arm (?P<a>\w+): no counts \(proportion only; counts cannot be recovered without the analysed n\)",
        "{t}：组 {a}：无计数（仅有比例；没有分析例数无法还原计数）",
    ),
    (
        r"arm-level numbers not usable: arm (?P<a>\w+): no counts \(proportion only; counts cannot be recovered without the analysed n\)",
        "分组数据不可用：组 {a}：无计数（仅有比例；没有分析例数无法还原计数）",
    ),
    (r"the reported contrast is used instead", "改用报告的组间比较"),
    (
        r"change scores: (?P<k>\S+ wk/\w+): (?P<s>\w+) has no dispersion to derive an SD from",
        "变化值：{k}：{s|term}没有可推算标准差的离散度指标",
    ),
    (r"final scores used instead", "改用终点值"),
    # a row from a reported between-group contrast, and how its SE was derived (evidence/contrasts.py)
    (
        r"reported between-group (?P<m>\w+) used \(generic inverse variance\): (?P<x>.+)",
        "采用报告的组间{m|term}（通用倒方差法）：{x}",
    ),
    (
        r"contrast: (?P<m>.+?) \((?P<r>reported|Cochrane Handbook [^;]+?)\)",
        "组间比较：{m|sentence}（{r|sentence}）",
    ),
    (r"reported", "按报告值"),
    (
        r"Cochrane Handbook v(?P<v>[\d.]+) \(Higgins et al\. (?P<y>\d{4})\) (?P<s>[\d., ]+)",
        "Cochrane 系统评价手册 v{v}（Higgins 等，{y}）第 {s} 节",
    ),
    (r"SE as reported", "标准误采用报告值"),
    (
        r"SE from the (?P<l>[\d.]+)% CI: \(upper - lower\) / \(2 x (?P<q>[\d.]+)\), (?P<w>.+)",
        "由 {l}% 置信区间推算标准误：（上限 − 下限）/（2 × {q}），{w|sentence}",
    ),
    (
        r"SE from the exact p = (?P<p>\S+): \|estimate\| / (?P<q>[\d.]+), (?P<w>.+)",
        "由精确 P 值（p = {p}）推算标准误：|估计值| / {q}，{w|sentence}",
    ),
    (r"SE from t = (?P<t>\S+): \|estimate\| / \|t\|", "由 t = {t} 推算标准误：|估计值| / |t|"),
    (r"normal", "正态分布分位数"),
    (r"normal \(arm sizes unknown or >= 60 per group\)", "正态分布分位数（各组例数未知或每组 ≥ 60 例）"),
    (r"t with the reported (?P<d>\d+) df", "t 分布分位数，采用报告的自由度 {d}"),
    (
        r"t with n1 \+ n2 - 2 = (?P<d>\d+) df \(fewer than 60 per group\)",
        "t 分布分位数，自由度 n1 + n2 − 2 = {d}（每组少于 60 例）",
    ),
    (r"n of (?P<a>\w+) not stated", "{a|term}的例数未说明"),
    (r"the SE of a ratio is read as the SE of its log", "比值的标准误按其对数的标准误理解"),
    (r"analysed as log (?P<m>\w+)", "按 log {m} 分析"),
    (
        r"risk difference in percentage points analysed as a proportion \(/100\)",
        "以百分点表示的率差按比例（/100）分析",
    ),
    (r"the estimate itself was computed by the curators: (?P<d>.+)", "估计值本身由数据整理者计算：{d}"),
    # an open correction of a trial's record (evidence: corrections; review/resolve.py)
    (
        r"correction flagged, not applied: (?P<w>[\w.]+(?: \([\w-]+\))?): (?P<v>.+)",
        "已标记、未采用的更正：{w}：{v}",
    ),
)

#: {name} = the matched text as it is; {name|term} = through the term catalog; {name|sentence} = translated
#: by these patterns itself (a clause with its own pattern; none: the whole sentence has no translation)
_PART = re.compile(r"\{(\w+)(?:\|(term|sentence))?\}")


class _UntranslatedError(Exception):
    """A clause inside a sentence has no pattern."""


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern + r"\Z"), template) for pattern, template in PATTERNS)


def _one(part: str, lang: str) -> str | None:
    for pattern, template in _compiled():
        found = pattern.match(part)
        if found:
            try:
                return _fill(template, found.groupdict(), lang)
            except _UntranslatedError:
                continue  # another pattern may read the part differently
    return None


def _fill(template: str, values: dict[str, str], lang: str) -> str:
    term = translations(lang).gettext

    def part(match: re.Match[str]) -> str:
        value, how = values[match.group(1)], match.group(2)
        if how == "term":
            return term(value)
        if how == "sentence":
            translated = _one(value, lang)
            if translated is None:
                raise _UntranslatedError(value)
            return translated
        return value

    return _PART.sub(part, template)


@functools.lru_cache(maxsize=4096)
def translate(sentence: str, lang: str) -> str | None:
    """``sentence`` in ``lang`` ("en": itself), or None when some part of it has no known pattern."""
    if lang == "en":
        return sentence
    text = sentence.strip().rstrip(".")
    parts = text.split("; ")
    # the longest run of parts that one pattern matches, left to right (patterns may contain "; ")
    out, i = [], 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            translated = _one("; ".join(parts[i:j]), lang)
            if translated is not None:
                out.append(translated)
                i = j
                break
        else:
            return None
    return "；".join(out)
