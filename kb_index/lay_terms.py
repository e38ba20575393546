"""Everyday words hospital staff use for the things a KB names technically.

A nurse writes 「手上那个身份带」 where the article says 腕带, a cashier 「挂墙上那个电视」 for
叫号屏, a pharmacist 「点库」 for 盘点. Neither character n-grams nor a small embedding model
bridge that gap, so a retriever sees the message plus the technical words its everyday
phrases stand for (appended, never replacing what the user wrote — the user's own words stay
the strongest evidence, and the confidence stage still judges the result).

The table is general HIS vocabulary (wards, outpatients, pharmacy, lab, imaging, billing,
insurance, infrastructure), not any one KB's titles; a site adds its own slang in a TOML file
(``[retrieval] lay_terms_file``): ``"本地叫法" = "系统里的术语"``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

#: (pattern on normalised text, technical words it stands for).
BUILT_IN: tuple[tuple[str, str], ...] = (
    # ward and nursing
    (r"手上.{0,4}带|手腕.{0,4}带|身份带|手环|腕上.{0,2}带", "腕带"),
    (r"瓶贴|贴瓶子|瓶签|吊瓶.{0,4}标签|输液.{0,2}标签|挂水.{0,4}标签", "输液贴 瓶签"),
    (r"吊瓶|挂水|打点滴|点滴", "输液"),
    (r"喝了多少|尿了多少|进出量|吃了多少|拉了多少", "出入量"),
    (r"分床|加床|加了.{0,2}张床|多.{0,2}张床|床.{0,6}(有人|占着|空着)", "床位 床位图"),
    (r"三测单|体温表", "体温单"),
    (r"抽血|采血|抽的血", "采血 标本"),
    (r"管子上.{0,3}(码|条码)|试管.{0,3}码|管子.{0,4}条码|血管.{0,3}码", "标本条码"),
    (r"化验室|化验科", "检验科"),
    (r"化验单|化验结果|化验报告", "检验报告"),
    (r"化验", "检验"),
    (r"紧急结果|危险.{0,2}结果|要命的结果|危急的结果", "危急值"),
    (r"换科|转到.{0,4}科|转过去.{0,4}科", "转科"),
    (r"出院.{0,4}(算账|结账|结钱)|出院.{0,2}算钱", "出院结算"),
    (r"押金|预交", "预交金"),
    (r"单子.{0,6}(打回|退回)|(打回|退回).{0,6}单子|药房.{0,6}(打回|退回)", "审核 退回"),
    # prescriptions, pharmacy, stores
    (r"特殊管理的(针|药)|毒麻|麻药|精神.{0,2}药|红处方", "麻精药品"),
    (r"登记本|账本|本子上", "账册"),
    (r"点库|盘库|数东西|清点", "盘点"),
    (r"药库.{0,6}(给|发)|库房.{0,6}(给|发).{0,4}药|领药", "调拨 出库 领药"),
    (r"退药|药.{0,4}退回去", "退药"),
    (r"药.{0,3}(没了|不够|没有了|缺)|缺药|没药", "库存不足"),
    (r"摆药|配药", "摆药"),
    # outpatient, self-service, queueing
    (r"喊人|叫人|叫名字|报名字|念名字", "叫号"),
    (r"(喊人|叫号|叫人).{0,4}(声音|声)|没声音|不出声|听不见|听不清", "语音 播报"),
    (r"电视|大屏|显示屏|挂墙上.{0,4}屏|屏幕.{0,6}(排|号|名字)", "叫号屏 显示"),
    (r"排到第几|排队|排号", "排队 队列"),
    (r"约号|放号|没号|号满|号.{0,2}满了|挂不上号|抢号", "号源 预约"),
    (r"网上约|手机上约|公众号|小程序|网上挂|线上挂", "预约 线上 互联网医院"),
    (r"线上看病|网上看病|手机上看病|视频看病|视频.{0,4}(看|连)", "视频问诊 互联网医院"),
    (r"看病的卡|就医的卡|就诊的卡|健康卡|电子卡", "电子健康卡 就诊卡"),
    (r"报的钱|报销|统筹|报的比|报得少", "报销 医保 统筹"),
    (r"退钱|退款|把钱退", "退费"),
    (r"交钱|付钱|缴钱|交费|付款", "缴费 收费"),
    (r"票(?!据)|收据|开票", "票据 发票"),
    (r"扫一下|扫码|红光|扫不出|扫不上|扫不了", "扫码枪 扫码"),
    (
        r"自助.{0,2}机|自己.{0,6}机器|(一楼|大厅|门口).{0,6}(机器|那台)|那台机器",
        "自助机",
    ),
    (r"吐出来|出纸|打出来|打不出", "打印"),
    (r"白花花|白纸|空白|啥也没有|什么也没有|一片白", "空白"),
    (r"字.{0,4}(歪|跑|偏|错位|错行)|跑到下一(格|行)|对不齐", "错位 偏移"),
    (r"打不出来的字|生僻字|电脑.{0,4}(打不出|没有).{0,3}字|同音.{0,2}字", "生僻字"),
    (r"医保.{0,4}对不上|对不上码|没对上|对照不上", "对照 对码 医保目录"),
    (r"取片|拿片子|拿胶片", "取片机 胶片"),
    (r"片子|胶片", "影像 胶片"),
    (r"拍片|照片子|拍个片|拍了片|核磁|磁共振|b超|彩超|做ct|ct做", "检查 影像 放射"),
    (r"写报告|出报告|审报告|发报告|报告.{0,4}发不出", "报告 审核"),
    (r"对照样品|质控品|质控样", "质控"),
    # records and reporting
    (r"首页", "病案首页"),
    (r"交病历|病历.{0,4}(交|提交|归档|收走)", "病历 提交 归档"),
    (r"报上去的|上报的数|卫统|统计.{0,2}(表|报表)|报给卫健委", "报表 上报 统计"),
    # infrastructure and clients
    (
        r"电子签名|签名.{0,4}(到期|过期)|签字的u盘|签名.{0,2}u盾|u盾|ukey|签字.{0,4}(到期|过期)",
        "CA 证书 签名",
    ),
    (r"新电脑|换电脑|重装|新装", "新电脑 安装 客户端"),
    (r"(缺|少了|没有).{0,6}文件|dll", "缺少 运行库 文件"),
    (r"盾牌|杀毒|安全软件|360|火绒|病毒", "杀毒软件 拦截"),
    (r"网址|链接打不开|找不到网站|域名", "域名 解析"),
    (r"一串数字", "IP 地址"),
    (r"登不上|登录不上|进不去|登不进", "登录 失败"),
    (r"卡死|转圈|半天不动|慢死|老半天|很慢|好慢|反应慢|卡得", "慢 卡顿"),
    (r"没网|网断了|上不了网|网不通|断网|掉线", "网络 断网 掉线"),
    (r"机房|主机|服务器", "服务器"),
    (r"全院|所有科室|整个医院|各个科室|全部科室", "全院"),
    (r"签病历|签字", "签名"),
)


class LayTermsError(ValueError):
    """A site's lay-terms file cannot be read (named, with the reason)."""


class LayTerms:
    """Appends the technical words a message's everyday phrases stand for."""

    def __init__(self, table: Iterable[tuple[str, str]] = BUILT_IN) -> None:
        self._table = tuple((re.compile(p), hint.split()) for p, hint in table)

    def hints(self, text: str) -> list[str]:
        """Technical words for ``text`` (normalised) that it does not already contain."""
        out: list[str] = []
        for pattern, words in self._table:
            if pattern.search(text):
                out.extend(w for w in words if w.lower() not in text and w not in out)
        return out

    def expand(self, text: str) -> str:
        hints = self.hints(text)
        return f"{text} {' '.join(hints)}" if hints else text

    @classmethod
    def with_site_file(cls, path: Path | None) -> LayTerms:
        """The built-in table plus a site's own ``"phrase" = "terms"`` entries (phrases are
        matched literally)."""
        if path is None:
            return cls()
        try:
            raw: Mapping[str, object] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise LayTermsError(f"{path}: {e}") from e
        site: list[tuple[str, str]] = []
        for phrase, terms in raw.items():
            if not isinstance(terms, str) or not terms.strip() or not phrase.strip():
                raise LayTermsError(f'{path}: {phrase!r}: write "本地叫法" = "系统术语 …"')
            site.append((re.escape(phrase.lower()), terms))
        return cls((*BUILT_IN, *site))
