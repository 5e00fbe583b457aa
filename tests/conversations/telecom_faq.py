"""A telecom brand's FAQ (the way an operator's customer service writes it) and questions real
users send, worded their own way: colloquial, with typos, other words. The questions are not
copies of the variants; `OUT_OF_DOMAIN` are things this FAQ does not answer.

Used by tests/conversations/test_knowledge_accuracy.py and bench/conversations.py."""

FAQ: list[dict] = [
    {
        "key": "balance",
        "questions": ["如何查询话费余额", "查话费", "我的账户还有多少钱", "话费余额查询"],
        "answer": {"text": "发送 YE 到 10086，或在 App 首页查看实时话费余额。"},
    },
    {
        "key": "data",
        "questions": ["怎么查询剩余流量", "流量查询", "本月流量用了多少", "流量还剩多少"],
        "answer": {"text": "发送 CXLL 到 10086 查询本月已用和剩余流量。"},
    },
    {
        "key": "plan_change",
        "questions": ["怎么变更套餐", "更换资费套餐", "套餐降档", "改成便宜一点的套餐"],
        "answer": {"text": "套餐变更次月生效，可在 App「办理-套餐变更」中选择新套餐。"},
    },
    {
        "key": "upgrade_5g",
        "questions": ["怎么升级5G套餐", "办理5G业务", "4G换5G", "开通5G网络"],
        "answer": {"text": "回复 5G 即可查看 5G 升级优惠，升级后无需换卡。"},
    },
    {
        "key": "broadband_repair",
        "questions": ["宽带报修", "宽带故障怎么办", "家里宽带断网了", "光猫亮红灯上不了网"],
        "answer": {"text": "宽带故障请拨打 10086 转 3 报修，维修人员 24 小时内上门。"},
    },
    {
        "key": "bill",
        "questions": ["查询账单", "本月账单明细", "话费扣费详情", "每个月消费记录"],
        "answer": {"text": "在 App「我的-账单」查看近 6 个月的账单明细。"},
    },
    {
        "key": "invoice",
        "questions": ["怎么开发票", "电子发票下载", "申请开具发票", "报销需要发票"],
        "answer": {"text": "在 App「我的-发票」选择月份，开具电子发票并发送到邮箱。"},
    },
    {
        "key": "points",
        "questions": ["积分兑换", "积分怎么用", "积分能换什么礼品", "查询我的积分"],
        "answer": {"text": "积分可兑换话费、流量和礼品，在 App「积分商城」兑换。"},
    },
    {
        "key": "port_out",
        "questions": ["携号转网怎么办理", "携号转网条件", "不换号码换运营商"],
        "answer": {"text": "发送 CXXZ#姓名#证件号 到 10086 查询是否符合携号转网条件。"},
    },
    {
        "key": "keep_number",
        "questions": ["停机保号", "出国期间号码保留", "暂时不用手机卡保留号码", "办理停机保号"],
        "answer": {"text": "停机保号每月 5 元，可在营业厅或 App 办理，最长 12 个月。"},
    },
    {
        "key": "roaming",
        "questions": ["国际漫游怎么开通", "出国使用手机", "境外流量包", "国外打电话收费"],
        "answer": {"text": "发送 KTGJMY 到 10086 开通国际漫游，出境前可订购境外流量包。"},
    },
    {
        "key": "real_name",
        "questions": ["实名认证", "实名登记怎么办", "身份证登记手机号", "实名制信息修改"],
        "answer": {"text": "携带本人身份证到营业厅办理实名登记，或在 App 人脸识别认证。"},
    },
    {
        "key": "password_reset",
        "questions": ["服务密码重置", "忘记服务密码", "修改密码", "密码被锁定了"],
        "answer": {"text": "发送 CZMM 到 10086 按提示重置服务密码。"},
    },
    {
        "key": "store",
        "questions": ["营业厅地址", "附近营业厅", "营业厅营业时间", "线下门店在哪里"],
        "answer": {"text": "在 App「附近营业厅」查看地址和营业时间，节假日照常营业。"},
    },
    {
        "key": "unsubscribe",
        "questions": ["退订业务", "取消增值业务", "关闭包月服务", "退订短信"],
        "answer": {"text": "发送 0000 到 10086 查询并退订已订购的业务。"},
    },
    {
        "key": "recharge",
        "questions": ["怎么充值话费", "交话费", "在线缴费", "充值没到账"],
        "answer": {"text": "在 App 或微信、支付宝充值话费，一般 10 分钟内到账。"},
    },
    {
        "key": "sim_lost",
        "questions": ["手机卡丢了怎么办", "补办SIM卡", "手机丢失挂失", "换卡"],
        "answer": {"text": "拨打 10086 先挂失，再带身份证到营业厅补卡。"},
    },
    {
        "key": "signal",
        "questions": ["手机信号不好", "没有信号", "通话经常断线", "网速很慢"],
        "answer": {"text": "请重启手机或切换网络模式；仍然不好请拨打 10086 反映所在位置。"},
    },
]

# (question, the key of the entry that answers it)
QUESTIONS: list[tuple[str, str]] = [
    ("我手机里还剩几块钱", "balance"),
    ("话费还有多少啊", "balance"),
    ("余额咋查", "balance"),
    ("看一下我的话废余额", "balance"),  # typo: 废 for 费
    ("帮我查查话费", "balance"),
    ("这个月流量还够用吗", "data"),
    ("剩余流量怎么看", "data"),
    ("我流量用了多少了", "data"),
    ("查下流量", "data"),
    ("流浪还剩多少", "data"),  # typo: 浪 for 量
    ("我想换个套餐", "plan_change"),
    ("套餐太贵了想换便宜的", "plan_change"),
    ("资费怎么改", "plan_change"),
    ("下个月想降套餐", "plan_change"),
    ("我要升5G", "upgrade_5g"),
    ("4G怎么升级到5G", "upgrade_5g"),
    ("５Ｇ套餐怎么办", "upgrade_5g"),  # full-width
    ("想用5g网络", "upgrade_5g"),
    ("家里的宽带上不去网了", "broadband_repair"),
    ("宽带坏了找谁修", "broadband_repair"),
    ("光猫红灯一直闪", "broadband_repair"),
    ("宽带断了报个修", "broadband_repair"),
    ("这个月账单怎么看", "bill"),
    ("我想看看扣费明细", "bill"),
    ("消费记录在哪查", "bill"),
    ("上个月的账单", "bill"),
    ("公司报销要开票", "invoice"),
    ("电子发票在哪下载", "invoice"),
    ("发票怎么开？", "invoice"),
    ("我的积分能干嘛", "points"),
    ("积分换礼品", "points"),
    ("积分怎么兑换话费", "points"),
    ("我想携号转网", "port_out"),
    ("号码不变换运营商可以吗", "port_out"),
    ("转网需要什么条件", "port_out"),
    ("出国一年号码怎么保留", "keep_number"),
    ("卡暂时不用了想保号", "keep_number"),
    ("停机保号多少钱一个月", "keep_number"),
    ("去日本旅游手机怎么用", "roaming"),
    ("开通国际漫游", "roaming"),
    ("在国外打电话贵不贵", "roaming"),
    ("实名认证怎么弄", "real_name"),
    ("手机号要用身份证登记吗", "real_name"),
    ("实名信息填错了要改", "real_name"),
    ("服务密码忘记了", "password_reset"),
    ("密码锁了咋办", "password_reset"),
    ("怎么重置密码", "password_reset"),
    ("离我最近的营业厅在哪", "store"),
    ("营业厅几点关门", "store"),
    ("实体店地址", "store"),
    ("怎么取消包月", "unsubscribe"),
    ("不想要这个增值业务了", "unsubscribe"),
    ("退订", "unsubscribe"),
    ("交话费怎么交", "recharge"),
    ("充的钱没到账", "recharge"),
    ("手机丢了卡怎么补", "sim_lost"),
    ("SIM卡坏了要换一张", "sim_lost"),
    ("信号太差了", "signal"),
    ("打电话老是断", "signal"),
    ("网速好慢啊", "signal"),
]

OUT_OF_DOMAIN: list[str] = [
    "今天天气怎么样",
    "给我讲个笑话",
    "明天股票会涨吗",
    "周杰伦的新歌叫什么",
    "怎么做红烧肉",
    "火车票怎么退",
    "帮我订一张去北京的机票",
    "猫咪不吃东西怎么办",
    "高考志愿怎么填",
    "你是机器人吗",
    "世界杯谁夺冠了",
    # sharing a word with an entry, about something else
    "信用卡账单怎么还款",
    "手机屏幕碎了在哪修",
    "国外留学怎么申请",
    "微信支付密码忘了",
    "快递怎么查询",
    "附近有什么好吃的餐厅",
    "附近的银行在哪",
    "电脑开不了机",
    "外卖怎么还没到",
]
