"""What the synthetic desk of ``benchmarks/web.py`` is made of: place and person names, the
hospital users' problems and their categories, the proportions of categories and urgencies,
acceptance and resolution times, the canned replies, and the ticket list's searches."""

from __future__ import annotations

CITIES = (
    "江宁", "鼓楼", "玄武", "秦淮", "建邺", "浦口", "栖霞", "雨花", "六合",
    "溧水", "高淳", "无锡", "江阴", "宜兴", "徐州", "新沂", "邳州", "常州",
    "溧阳", "苏州", "常熟", "张家港", "昆山", "太仓", "南通", "海安", "如皋",
    "启东", "连云港", "淮安", "盐城", "东台", "扬州", "仪征", "高邮", "镇江",
    "丹阳", "扬中", "句容", "泰州", "兴化", "靖江", "泰兴", "宿迁", "沭阳",
    "泗阳",
)  # fmt: skip
HOSPITAL_KINDS = ("人民医院", "中医院", "第二人民医院", "妇幼保健院", "中心医院", "第三人民医院")
REGIONS = ("东区", "西区", "南区", "北区", "中区")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
MODULES = ("门诊挂号", "门诊收费", "住院登记", "住院收费", "医保接口", "LIS", "PACS", "电子病历")

DEPTS = (
    "门诊收费处", "住院收费处", "急诊科", "检验科", "放射科", "门诊药房", "住院药房", "护士站",
    "医保办", "信息科", "病案室", "手术室", "体检中心", "儿科", "妇产科", "内科二病区", "骨科病区",
)  # fmt: skip

#: (problem text, category); {code} etc. are filled with numbers.
PROBLEMS: tuple[tuple[str, str], ...] = (
    ("打印机打不出发票，提示纸张错误", "install"),
    ("医保结算时报错{code}，病人在窗口等着", "insurance"),
    ("出院结算金额和医保上传的明细对不上", "insurance"),
    ("医保刷卡提示就诊信息不存在", "insurance"),
    ("登录时提示 ORA-{ora}，其他电脑正常", "install"),
    ("密码输错被锁定了，麻烦解锁一下", "usage"),
    ("挂号界面显示号源已满，实际还有号", "usage"),
    ("检验结果传不到医生站", "lis"),
    ("LIS 条码打印机不出纸", "lis"),
    ("PACS 影像调阅很慢，要等一分钟", "pacs"),
    ("PACS 登记后 HIS 没有产生检查费用", "pacs"),
    ("住院病人入院时间录错了，床位费多算了{n}天", "data-fix"),
    ("药品库存数量不对，盘点差{n}盒", "data-fix"),
    ("电子病历保存时卡死", "usage"),
    ("排班表怎么导出到 Excel", "consult"),
    ("预交金不足时能不能继续记账", "consult"),
    ("新电脑需要安装 HIS 客户端", "install"),
    ("升级到 5.{ver} 后报表打不开", "upgrade"),
    ("升级后单据格式被还原了", "upgrade"),
    ("月底的收入统计报表数字不对", "report"),
    ("收费日报里新的结算方式没有单列", "report"),
    ("抗菌药物使用强度统计结果偏低", "data-report"),
    ("自助机缴费成功但 HIS 里没有记录", "third-party"),
    ("电子票据开具失败，提示未授权", "third-party"),
    ("互联网医院接口推送失败，返回 {http}", "third-party"),
    ("发票号段用完了，怎么领新的号段", "consult"),
)
CATEGORY_WEIGHT = {
    "usage": 25, "insurance": 16, "consult": 10, "install": 9, "data-fix": 9, "lis": 7,
    "pacs": 6, "third-party": 6, "report": 5, "data-report": 4, "upgrade": 3,
}  # fmt: skip
URGENCY_WEIGHT = {"P1": 4, "P2": 14, "P3": 62, "P4": 20}
#: Median minutes to accept / from acceptance to resolution, per urgency (log-normal spread).
ACCEPT_MEDIAN = {"P1": 6, "P2": 15, "P3": 45, "P4": 180}
RESOLVE_MEDIAN = {"P1": 60, "P2": 300, "P3": 1200, "P4": 2880}
RESOLUTIONS = (
    "重启打印服务并重新安装驱动后恢复",
    "已在医保前置机重新上传费用明细，结算成功",
    "已解锁账户并重置密码，提醒定期修改",
    "调整号源池配置后恢复正常",
    "修复接口配置，重新推送成功",
    "升级客户端到 5.2.3 后解决",
    "已修正数据并登记变更单",
    "远程指导操作完成，属于使用问题",
    "更换网线后网络恢复",
    "清理客户端缓存后正常",
)
ENGINEER_REPLIES = (
    "您好，已远程连接查看，请稍等",
    "请发一下报错截图和电脑 IP",
    "已处理，请重新登录再试一下",
    "这个需要厂商配合，预计今天下午处理完",
    "已安排工程师上门",
)
HOSPITAL_FOLLOW_UPS = (
    "好的，谢谢",
    "还是不行，同样的报错",
    "截图已发",
    "可以了，谢谢工程师",
    "病人还在等，麻烦快一点",
)
REPORTERS = ("护士", "收费员", "药师", "医生", "科员", "主任")

#: Full-text searches of the ticket list (frequent words, a code, a number prefix of this year,
#: rare, none).
TICKET_SEARCHES = (
    "医保", "打印", "结算", "ORA-", "密码", "排班表", "{year}-0001", "号源", "张", "无此内容的搜索",
)  # fmt: skip
