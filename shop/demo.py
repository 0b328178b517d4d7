"""The demo catalogue from DOMAIN.md: Gangu producers, products, the Dongli halls, an aid programme.

``seed_demo()`` is idempotent: rows are matched by their codes and created only when missing, and
opening stock is received only once per variant and location.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.aid.models import AidProgramme, PartnerPlatform
from shop.catalog.models import AidCertificate, Category, Location, Producer, Product, Variant
from shop.catalog.search import refresh_search_keys
from shop.core import clock
from shop.core.db import db
from shop.inventory import services as stock
from shop.inventory.models import StockMovement
from shop.media.models import ProductImage
from shop.media.services import add_product_image
from shop.workunits import quotas
from shop.workunits import services as units
from shop.workunits.codes import credit_check_char

ISSUER = "甘谷县乡村振兴局"

CATEGORIES = [
    ("fruit", "水果", "Fruit"),
    ("chili", "辣椒", "Chili"),
    ("pepper", "花椒", "Sichuan pepper"),
    ("shoes", "手工麻鞋", "Hemp shoes"),
    ("vegetables", "高原夏菜", "Highland vegetables"),
]

# code, zh, en, legal name, kind, township zh, township en, village, households, people, mechanism zh/en,
# story zh/en, certificate: years valid relative to this year (None = no certificate; -1 = expired)
PRODUCERS = [
    (
        "huaniu-coop",
        "花牛苹果专业合作社",
        "Huaniu Apple Cooperative",
        "甘谷县安远镇花牛苹果种植专业合作社",
        "cooperative",
        "安远镇",
        "Anyuan",
        "南山村",
        126,
        508,
        "吸纳建档立卡贫困户入社，按交售量二次分红",
        "Registered poor households join as members and get a second dividend on what they deliver",
        "安远镇海拔一千四百米的山地果园，昼夜温差大，花牛苹果色泽深红、果肉脆甜。合作社统一技术、统一收购、冷库储存。",
        "Orchards at 1,400 m in Anyuan: cold nights and warm days make deep-red, crisp Huaniu apples. The cooperative trains members, buys their fruit and cold-stores it.",
        0,
    ),
    (
        "tianguo-co",
        "甘谷天果果业有限公司",
        "Gangu Tianguo Fruit Co., Ltd.",
        "甘谷天果果业有限公司",
        "company",
        "新兴镇",
        "Xinxing",
        "雒家庄村",
        64,
        240,
        "订单收购贫困户果品，优先吸纳贫困劳动力务工",
        "Buys fruit from poor households on contract and hires their members first",
        "公司从周边村庄订单收购，精选大果做成礼盒。",
        "The company buys on contract from nearby villages and packs the best fruit into gift boxes.",
        0,
    ),
    (
        "xianjiao-coop",
        "甘谷线椒专业合作社",
        "Gangu Line Chili Cooperative",
        "甘谷县磐安镇线椒种植专业合作社",
        "cooperative",
        "磐安镇",
        "Pan'an",
        "东四十铺村",
        210,
        836,
        "保底价收购贫困户辣椒，入股分红",
        "Guaranteed floor price for poor households' chili, plus share dividends",
        "甘谷辣椒是国家地理标志产品，渭河川道种植历史数百年，线椒细长、香辣适中。",
        "Gangu chili is a national geographical-indication product grown in the Wei river valley for centuries: long, thin and fragrant.",
        0,
    ),
    (
        "lajiao-food",
        "甘谷辣椒食品有限公司",
        "Gangu Chili Foods Co., Ltd.",
        "甘谷县辣椒食品有限公司",
        "leading_enterprise",
        "大像山镇",
        "Daxiangshan",
        "姚庄村",
        155,
        610,
        "龙头企业带动，车间就业与原料收购",
        "Leading enterprise: workshop jobs and raw chili bought from poor households",
        "县城边的加工厂把线椒做成辣椒面和油泼辣子，用的是本地菜籽油。",
        "A workshop at the county seat turns line chili into flakes and chili oil made with local rapeseed oil.",
        0,
    ),
    (
        "huajiao-coop",
        "大红袍花椒专业合作社",
        "Dahongpao Sichuan Pepper Cooperative",
        "甘谷县古坡镇花椒种植专业合作社",
        "cooperative",
        "古坡镇",
        "Gupo",
        "草川村",
        98,
        402,
        "技术托管与统一销售，贫困户入社",
        "Orchard management and joint sales; poor households are members",
        "古坡镇山坡上的大红袍花椒七月采摘，粒大色红，麻香浓郁。",
        "Dahongpao pepper from Gupo's hillsides is picked in July: large red husks with a strong numbing fragrance.",
        0,
    ),
    (
        "jiaofen-co",
        "甘谷椒香调味品有限公司",
        "Gangu Jiaoxiang Seasonings Co., Ltd.",
        "甘谷县椒香调味品有限公司",
        "company",
        "六峰镇",
        "Liufeng",
        "觉皇寺村",
        40,
        150,
        "收购贫困户花椒加工",
        "Buys pepper from poor households for grinding",
        "把花椒磨成细粉，方便家庭厨房。",
        "Grinds pepper into powder for home kitchens.",
        -1,
    ),
    (
        "mashoe-co",
        "甘谷麻鞋手工制品有限公司",
        "Gangu Hand-made Hemp Shoes Co., Ltd.",
        "甘谷县麻鞋手工制品有限公司",
        "company",
        "礼辛镇",
        "Lixin",
        "尉家村",
        180,
        320,
        "居家灵活就业：贫困妇女在家编织，按件计酬",
        "Home work: women from poor households weave at home and are paid per pair",
        "麻鞋是甘谷的传统手艺，一双鞋要编上两天，透气耐穿。",
        "Hemp shoes are a Gangu craft: two days of weaving per pair, breathable and hard-wearing.",
        0,
    ),
    (
        "gaoyuan-coop",
        "高原夏菜专业合作社",
        "Highland Summer Vegetable Cooperative",
        "甘谷县大石镇高原夏菜种植专业合作社",
        "cooperative",
        "大石镇",
        "Dashi",
        "王家庄村",
        132,
        530,
        "土地流转租金加务工工资",
        "Land-lease rent plus wages for poor households",
        "高海拔冷凉气候种出的夏菜，冷链直达天津。",
        "Vegetables grown in the cool highland summer, sent to Tianjin by cold chain.",
        None,
    ),
]


@dataclass
class V:
    sku: str
    name_zh: str
    name_en: str
    unit_zh: str
    unit_en: str
    grams: int
    yuan: int
    perishable: bool
    shelf_days: int | None


# slug, category, producer, name zh/en, description zh/en, origin mark, variants
PRODUCTS = [
    (
        "huaniu-apples",
        "fruit",
        "huaniu-coop",
        "花牛苹果",
        "Huaniu apples",
        "天水花牛苹果，地理标志产品，冷库储存三个月。",
        "Tianshui Huaniu apples (GI), cold-stored up to three months.",
        "天水花牛苹果 地理标志",
        [V("APL-HN-5KG", "花牛苹果 5公斤装", "Huaniu apples 5 kg box", "箱", "box", 5000, 68, True, 90)],
    ),
    (
        "huaniu-gift-box",
        "fruit",
        "tianguo-co",
        "花牛苹果礼盒",
        "Huaniu apple gift box",
        "精选十二枚大果，适合节日送礼。",
        "Twelve selected large apples, a festive gift.",
        "天水花牛苹果 地理标志",
        [
            V(
                "APL-HN-GIFT12",
                "花牛苹果礼盒 12枚",
                "Huaniu gift box, 12 apples",
                "盒",
                "box",
                3600,
                88,
                True,
                90,
            )
        ],
    ),
    (
        "fuji-apples",
        "fruit",
        "huaniu-coop",
        "富士苹果",
        "Fuji apples",
        "山地富士，脆甜多汁。",
        "Hillside Fuji apples, crisp and juicy.",
        "",
        [V("APL-FJ-5KG", "富士苹果 5公斤装", "Fuji apples 5 kg box", "箱", "box", 5000, 58, True, 90)],
    ),
    (
        "line-chili",
        "chili",
        "xianjiao-coop",
        "甘谷线椒（干）",
        "Dried Gangu line chili",
        "地理标志甘谷辣椒，自然晾晒。",
        "GI Gangu line chili, sun-dried.",
        "甘谷辣椒 地理标志 · 甘味",
        [V("CHL-LINE-500G", "干线椒 500克", "Dried line chili 500 g", "袋", "bag", 500, 28, True, 365)],
    ),
    (
        "chili-flakes",
        "chili",
        "lajiao-food",
        "辣椒面",
        "Chili flakes",
        "线椒石磨粗面。",
        "Stone-ground line chili flakes.",
        "甘味",
        [V("CHL-FLK-500G", "辣椒面 500克", "Chili flakes 500 g", "袋", "bag", 500, 32, True, 365)],
    ),
    (
        "chili-oil",
        "chili",
        "lajiao-food",
        "油泼辣子",
        "Chili oil",
        "菜籽油泼制，香而不燥。",
        "Made with hot rapeseed oil: fragrant, not harsh.",
        "甘味",
        [V("CHL-OIL-250G", "油泼辣子 250克瓶装", "Chili oil 250 g jar", "瓶", "jar", 250, 22, True, 270)],
    ),
    (
        "dahongpao-pepper",
        "pepper",
        "huajiao-coop",
        "大红袍花椒",
        "Dahongpao Sichuan pepper",
        "七月采摘，麻香浓郁。",
        "Picked in July, strongly numbing and fragrant.",
        "甘味",
        [V("PEP-DHP-250G", "大红袍花椒 250克", "Dahongpao pepper 250 g", "袋", "bag", 250, 45, True, 540)],
    ),
    (
        "pepper-powder",
        "pepper",
        "jiaofen-co",
        "花椒粉",
        "Sichuan pepper powder",
        "细磨花椒粉。",
        "Finely ground Sichuan pepper.",
        "",
        [V("PEP-PWD-100G", "花椒粉 100克", "Pepper powder 100 g", "袋", "bag", 100, 18, True, 365)],
    ),
    (
        "hemp-shoes",
        "shoes",
        "mashoe-co",
        "手工麻鞋",
        "Hand-made hemp shoes",
        "农家妇女手工编织，透气耐穿。",
        "Woven by hand by village women; breathable and durable.",
        "",
        [
            V("SHOE-HEMP-38", "手工麻鞋 38码", "Hemp shoes, size 38", "双", "pair", 400, 98, False, None),
            V("SHOE-HEMP-40", "手工麻鞋 40码", "Hemp shoes, size 40", "双", "pair", 420, 98, False, None),
            V("SHOE-HEMP-42", "手工麻鞋 42码", "Hemp shoes, size 42", "双", "pair", 440, 98, False, None),
        ],
    ),
    (
        "hemp-shoes-leather",
        "shoes",
        "mashoe-co",
        "皮面麻鞋",
        "Hemp shoes, leather upper",
        "麻底皮面，适合通勤。",
        "Hemp soles with a leather upper, for every day.",
        "",
        [
            V(
                "SHOE-LTHR-40",
                "皮面麻鞋 40码",
                "Leather-upper hemp shoes, size 40",
                "双",
                "pair",
                520,
                168,
                False,
                None,
            ),
            V(
                "SHOE-LTHR-42",
                "皮面麻鞋 42码",
                "Leather-upper hemp shoes, size 42",
                "双",
                "pair",
                540,
                168,
                False,
                None,
            ),
        ],
    ),
    (
        "highland-vegetables",
        "vegetables",
        "gaoyuan-coop",
        "高原夏菜",
        "Highland summer vegetables",
        "当季时令蔬菜组合，冷链运输。",
        "A case of seasonal vegetables, shipped by cold chain.",
        "",
        [
            V(
                "VEG-HL-10KG",
                "高原夏菜 10公斤箱",
                "Highland vegetables 10 kg case",
                "箱",
                "case",
                10000,
                45,
                True,
                10,
            )
        ],
    ),
]

# code, name zh/en, kind, district, address, pickup, ships
HALLS = [
    ("DL-HM", "华明扶贫展卖馆", "Huaming exhibition hall", "华明街道", "东丽区华明大道 18 号"),
    ("DL-FNC", "丰年村扶贫展卖馆", "Fengniancun exhibition hall", "丰年村街道", "东丽区丰年村路 6 号"),
    ("DL-WX", "万新扶贫展卖馆", "Wanxin exhibition hall", "万新街道", "东丽区成林道 120 号"),
    ("DL-JQ", "金桥扶贫展卖馆", "Jinqiao exhibition hall", "金桥街道", "东丽区津塘公路 88 号"),
    ("DL-ZGZ", "张贵庄扶贫展卖馆", "Zhangguizhuang exhibition hall", "张贵庄街道", "东丽区跃进路 30 号"),
    ("DL-XL", "新立扶贫展卖馆", "Xinli exhibition hall", "新立街道", "东丽区新立路 55 号"),
    ("DL-DLH", "东丽湖扶贫展卖馆", "Dongli Lake exhibition hall", "东丽湖街道", "东丽区东丽湖景荟路 2 号"),
    ("DL-JLC", "军粮城扶贫展卖馆", "Junliangcheng exhibition hall", "军粮城街道", "东丽区军粮城大道 9 号"),
]


# The demo's target is a placeholder. About 50 million yuan is what Gangu sold through every channel in
# 2019 (a 2020 report), a result, not a target: each year's target is what the district sets, entered by
# an officer on the programmes page (/admin/programmes).
DEMO_PROGRAMME_NOTE = (
    "演示数据：目标金额5000万元借用的是2019年甘谷县各渠道消费帮扶的实际销售额（结果，不是目标）。"
    "每年的目标由东丽区确定，请在“帮扶计划”页面填写。"
    " Demo data: the 50 million yuan target borrows 2019's result across all channels (a result, not a "
    "target). Each year's target is what the district sets; enter it on the programmes page."
)


def _upsert(model, key: str, value, **fields):
    row = db.session.scalar(select(model).where(getattr(model, key) == value))
    if row is None:
        row = model(**{key: value}, **fields)
        db.session.add(row)
        db.session.flush()
    return row


def seed_demo(today: date | None = None) -> dict[str, int]:
    """Load the demo catalogue, halls, programme and opening stock; safe to run any number of times."""
    day = today or clock.today()
    year = day.year
    counts = {"categories": 0, "producers": 0, "products": 0, "variants": 0, "locations": 0, "receipts": 0}

    cats = {}
    for pos, (code, zh, en) in enumerate(CATEGORIES):
        cats[code] = _upsert(Category, "code", code, name_zh=zh, name_en=en, position=pos)
        counts["categories"] += 1

    producers = {}
    for code, zh, en, legal, kind, tzh, ten, village, hh, people, mzh, men, szh, sen, cert in PRODUCERS:
        p = _upsert(
            Producer,
            "code",
            code,
            name_zh=zh,
            name_en=en,
            legal_name=legal,
            kind=kind,
            township=tzh,
            township_en=ten,
            village=village,
            linked_households=hh,
            linked_people=people,
            benefit_mechanism_zh=mzh,
            benefit_mechanism_en=men,
            story_zh=szh,
            story_en=sen,
        )
        producers[code] = p
        counts["producers"] += 1
        if cert is not None:
            number = f"GGFP-{year - 1}-{p.id:03d}"
            start = date(year - 1, 1, 1)
            until = date(year, 12, 31) if cert >= 0 else date(year - 1, 12, 31)
            _upsert(
                AidCertificate,
                "number",
                number,
                producer_id=p.id,
                issuer=ISSUER,
                valid_from=start,
                valid_until=until,
            )

    variants: list[Variant] = []
    for slug, cat, prod, zh, en, dzh, den, mark, vs in PRODUCTS:
        product = _upsert(
            Product,
            "slug",
            slug,
            category_id=cats[cat].id,
            producer_id=producers[prod].id,
            name_zh=zh,
            name_en=en,
            description_zh=dzh,
            description_en=den,
            origin_mark=mark,
        )
        counts["products"] += 1
        for v in vs:
            variants.append(
                _upsert(
                    Variant,
                    "sku",
                    v.sku,
                    product_id=product.id,
                    name_zh=v.name_zh,
                    name_en=v.name_en,
                    unit_zh=v.unit_zh,
                    unit_en=v.unit_en,
                    weight_grams=v.grams,
                    price_fen=v.yuan * 100,
                    perishable=v.perishable,
                    shelf_life_days=v.shelf_days,
                )
            )
            counts["variants"] += 1

    warehouse = _upsert(
        Location,
        "code",
        "GG-WH",
        name_zh="甘谷县消费帮扶产品仓",
        name_en="Gangu county warehouse",
        kind="warehouse",
        district="甘谷县",
        address="甘谷县大像山镇物流园",
        pickup=False,
        ships=True,
    )
    halls = [
        _upsert(
            Location,
            "code",
            code,
            name_zh=zh,
            name_en=en,
            kind="hall",
            district=district,
            address=address,
            pickup=True,
            ships=False,
            opening_hours="09:00-19:00",
        )
        for code, zh, en, district, address in HALLS
    ]
    _upsert(
        Location,
        "code",
        "FAIR-TJ",
        name_zh="津洽会甘谷展位",
        name_en="Tianjin Investment and Trade Fair booth",
        kind="fair",
        district="东丽区",
        address="天津梅江会展中心",
        pickup=False,
        ships=False,
        active_from=date(year, 5, 18),
        active_until=date(year, 5, 21),
    )
    counts["locations"] = 2 + len(halls)

    _upsert(
        AidProgramme,
        "code",
        f"DL-GG-{year}",
        name_zh=f"{year}年东丽区对口帮扶甘谷县消费帮扶",
        name_en=f"Dongli–Gangu consumption aid {year}",
        starts_on=date(year, 1, 1),
        ends_on=date(year, 12, 31),
        target_fen=50_000_000 * 100,
        note=DEMO_PROGRAMME_NOTE,
    )

    # Opening stock: the warehouse holds plenty, each hall a few of everything.
    for variant in variants:
        for loc, qty in [(warehouse, 200), *[(h, 20) for h in halls]]:
            ref = f"seed:{variant.sku}:{loc.code}"
            if db.session.scalar(select(StockMovement.id).where(StockMovement.reference == ref).limit(1)):
                continue
            best_before = day + timedelta(days=variant.shelf_life_days) if variant.shelf_life_days else None
            stock.add_stock(
                variant,
                loc,
                qty,
                kind="receipt",
                lot_code=f"{variant.sku}-{day:%Y%m}",
                harvested_on=day - timedelta(days=7) if variant.perishable else None,
                best_before=best_before,
                reason="opening stock",
                reference=ref,
            )
            counts["receipts"] += 1
    counts["platforms"] = seed_demo_platforms()
    db.session.flush()
    refresh_search_keys()
    return counts


# Gangu's own e-commerce platforms (issue 19): their sales are imported into the aid ledger.
DEMO_PLATFORMS = [
    ("GG-WXSC", "甘谷微商城", "Gangu WeChat mall", "甘谷县电子商务公共服务中心"),
    ("GG-TMALL", "天猫甘谷特产馆", "Gangu specialties on Tmall", "甘谷县农特产品有限公司"),
    ("GG-JD", "京东甘谷馆", "Gangu pavilion on JD.com", "甘谷县农特产品有限公司"),
    ("GG-PDD", "拼多多甘谷辣椒店", "Gangu chili shop on Pinduoduo", "甘谷县辣椒产业协会"),
    ("GG-DY", "抖音甘谷好物直播间", "Gangu goods live room on Douyin", "甘谷县融媒体中心"),
]


def seed_demo_platforms() -> int:
    """The five partner platforms of the demo (no producers named: each may sell for any producer)."""
    for code, zh, en, operator in DEMO_PLATFORMS:
        _upsert(PartnerPlatform, "code", code, name_zh=zh, name_en=en, operator=operator, contact="")
    return len(DEMO_PLATFORMS)


def seed_demo_pictures() -> dict[str, int]:
    """Give every demo product without a picture a drawn illustration, through the same pipeline as an
    admin's upload (checked, stored, renditions made by a worker after the commit). ``flask seed`` runs
    it; the test fixtures' ``seed_demo()`` does not (it would draw eleven pictures per test)."""
    # why: the drawings need Pillow's drawing modules, which no process needs but the one seeding them
    from shop.backoffice import illustrations

    drawn = 0
    for slug, *_rest in PRODUCTS:
        product = db.session.scalar(select(Product).where(Product.slug == slug))
        if product is None or db.session.scalar(
            select(ProductImage.id).where(ProductImage.product_id == product.id).limit(1)
        ):
            continue
        add_product_image(product.id, illustrations.draw(slug))
        drawn += 1
    return {"pictures": drawn}


DEMO_UNITS = (
    # email, legal name, type, credit code body (17 characters; the check character is computed)
    ("canteen@dongli-school.example.cn", "天津市东丽区第一中学", "budget_unit", "12120110MB0000001", True),
    ("union@dongli-food.example.cn", "天津食品集团工会委员会", "trade_union", "81120110MC0000002", False),
)


def seed_demo_work_units() -> dict[str, int]:
    """Two demo work units (a verified school canteen with this year's quota, a union waiting for
    verification), so the officers' pages have something to show. Idempotent. Their logins get a random
    password: set one with ``flask users create --email ... --role customer`` to sign in as them."""
    admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id).limit(1))
    made = 0
    for email, name, unit_type, body, verified in DEMO_UNITS:
        if db.session.scalar(select(User.id).where(User.email == email)) is not None:
            continue
        user = units.register_unit(
            units.UnitRegistration(
                email=email,
                password=secrets.token_urlsafe(24),
                name="采购员",
                invoice_title=name,
                tax_id=body + credit_check_char(body),
                unit_type=unit_type,
                contact_name="王老师" if verified else "李主席",
                contact_phone="022-24390000",
            )
        )
        if verified:
            units.verify_unit(user.id, note="演示数据：营业执照已核验", actor=admin or user)
            quotas.set_quota(user.id, year=clock.today().year, amount_fen=30_000_000, actor=admin or user)
        made += 1
    return {"work_units": made}
