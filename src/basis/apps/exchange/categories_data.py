# ruff: noqa: RUF001 - Russian names of the original, Cyrillic on purpose
"""The shipped category set, v6.0: the original's slugs, names, groups and emoji (facts of the
original's v6 data), in its order. ``sort_order`` is the position in each list, from 0."""

from __future__ import annotations

VERSION = "v6.0"
DESCRIPTION = "Categories v6: permanent exchanges (no return) and temporary exchanges (with return)"

_TRANSPORT_P = "🚗 Транспорт и техника"
_TOOLS = "🔧 Инструменты и оборудование"
_PHOTO = "📷 Фото-, видео-, аудио-техника"
_DIGITAL_P = "💾 Цифровые, креативные и интеллектуальные активы"
_SERVICES = "👥 Услуги и навыки"
_REALTY = "🏠 Недвижимость и пространство"
_GARDEN = "🪴 Дом, сад и строительство"
_HOME = "🛋️ Быт, мебель и интерьер"
_CLOTHES = "👕 Одежда, мода и личные вещи"
_HOBBY = "🎮 Хобби, игры и коллекции"
_BOOKS = "📚 Книги, музыка и медиа"
_HEALTH = "🧴 Здоровье, красота и уход"
_LIVING = "🌱 Живые объекты и природа"
_FARM = "🍎 Продукты и сельхозтовары"
_EDU = "📚 Образовательные ресурсы и знания"
_FINANCE_P = "⚖️ Финансы и ценные активы"

PERMANENT: list[tuple[str, str, str, str]] = [
    ("personal_transport", "Личные и спецтранспортные средства", _TRANSPORT_P, "🚗"),
    ("electric_vehicles", "Электротранспорт, дроны, техника для хобби", _TRANSPORT_P, "🚗"),
    ("parts_consumables", "Запчасти, комплектующие, расходники", _TRANSPORT_P, "🚗"),
    ("hand_power_tools", "Ручные, электро-, строительные, лабораторные инструменты", _TOOLS, "🔧"),
    ("production_facilities", "Производственные и ремесленные установки", _TOOLS, "🔧"),
    ("building_materials", "Строительные материалы и элементы (двери, окна, панели, крепёж)", _TOOLS, "🔧"),
    ("photo_equipment", "Фотоаппараты, оптика, микрофоны", _PHOTO, "📷"),
    ("lighting_equipment", "Осветительные приборы, звукозаписывающая техника", _PHOTO, "📷"),
    ("software_programs", "Программы, исходный код, шаблоны, дизайн", _DIGITAL_P, "💾"),
    ("media_content", "Медиа, музыка, видео, NFT, цифровые коллекции", _DIGITAL_P, "💾"),
    ("intellectual_property", "Авторские права, бессрочные лицензии", _DIGITAL_P, "💾"),
    ("completed_projects", "Завершённые проекты, контент, дизайн, разработка", _SERVICES, "👥"),
    ("services_work", "Ремонт, монтаж, обучение — с передачей результата", _SERVICES, "👥"),
    ("property", "Земля, дома, квартиры, студии, гаражи", _REALTY, "🏠"),
    ("property_rights", "Право собственности или доля", _REALTY, "🏠"),
    ("garden_equipment", "Садовая техника, полив, мебель для сада", _GARDEN, "🪴"),
    ("decor_elements", "Декор, ограждения, строительные материалы", _GARDEN, "🪴"),
    ("furniture_appliances", "Мебель, бытовая техника, освещение", _HOME, "🛋️"),
    ("decor_textiles", "Декор, текстиль, ковры, зеркала", _HOME, "🛋️"),
    ("clothing_footwear", "Одежда, обувь, аксессуары, украшения", _CLOTHES, "👕"),
    ("vintage_luxury", "Винтаж, мода premium, коллекционные вещи", _CLOTHES, "👕"),
    ("games_collectibles", "Настольные игры, фигурки, комиксы, карточки", _HOBBY, "🎮"),
    ("models_merch", "Модели, игрушки, фан-мерч, подписные наборы", _HOBBY, "🎮"),
    ("physical_media", "Книги, журналы, ноты, винил, CD, DVD", _BOOKS, "📚"),
    ("antiques_rare", "Антикварные и редкие издания", _BOOKS, "📚"),
    ("beauty_cosmetics", "Косметика, парфюмерия, уходовые гаджеты", _HEALTH, "🧴"),
    ("health_devices", "Аппараты для здоровья, wellness-техника", _HEALTH, "🧴"),
    ("plants_animals", "Растения, семена, питомцы, аквариумные объекты", _LIVING, "🌱"),
    ("breeding_care", "Разведение и уход", _LIVING, "🌱"),
    ("farm_products", "Фермерская продукция, заготовки, мед, зерно, семена", _FARM, "🍎"),
    ("natural_resources", "Обмен натуральными продуктами и ресурсами", _FARM, "🍎"),
    ("courses_materials", "Курсы, методики, учебные материалы, книги", _EDU, "📚"),
    ("intellectual_constructions", "Авторские наработки, интеллектуальные конструкции", _EDU, "📚"),
    ("money_crypto", "Деньги, криптовалюта, токены", _FINANCE_P, "⚖️"),
    ("securities_assets", "Ценные бумаги, доли, активы", _FINANCE_P, "⚖️"),
]

_TRANSPORT_T = "🚗 Транспорт и мобильность"
_DIGITAL_T = "💻 Цифровые и вычислительные ресурсы"
_FINANCE_T = "💸 Финансы и взаимные займы"
_SPACES = "🏠 Пространства и помещения"
_CARE = "🐾 Уход за живыми объектами"
_LEISURE = "🎯 Спорт, отдых и досуг"

TEMPORARY: list[tuple[str, str, str, str]] = [
    ("bicycles", "Велосипеды, самокаты, гироскутеры", _TRANSPORT_T, "🚗"),
    ("electric_transport", "Электросамокаты, электровелосипеды", _TRANSPORT_T, "🚗"),
    ("carsharing", "Каршеринг, аренда прицепов, спецтехники", _TRANSPORT_T, "🚗"),
    ("hand_tools", "Ручные и электроинструменты", _TOOLS, "🔧"),
    ("printers_equipment", "3D-принтеры, станки, лабораторное оборудование", _TOOLS, "🔧"),
    ("construction_tools", "Оснащение для стройки, ремонта, мероприятий", _TOOLS, "🔧"),
    ("photo_equipment", "Фотоаппараты, объективы, дроны", _PHOTO, "📷"),
    ("video_audio", "Свет, звук, микрофоны, рекордеры", _PHOTO, "📷"),
    ("production_kits", "Комплекты для съёмок, трансляций, подкастов", _PHOTO, "📷"),
    ("cloud_resources", "Облачные GPU/CPU, хостинг, storage", _DIGITAL_T, "💻"),
    ("api_access", "Временный доступ к API, ML-моделям, инструментам", _DIGITAL_T, "💻"),
    ("software_licenses", "Подписки, лицензии, токены с ограниченным сроком", _DIGITAL_T, "💻"),
    ("network_resources", "Сетевые или энергетические мощности, интернет-каналы", _DIGITAL_T, "💻"),
    ("money_crypto", "Деньги, криптовалюта, токены — с возвратом в том же объёме", _FINANCE_T, "💸"),
    ("trusted_equivalent", "Используются как доверенный эквивалент ресурса", _FINANCE_T, "💸"),
    ("tutoring", "Репетиторство, консультации, менторство", _SERVICES, "👥"),
    ("task_execution", "Исполнение задач, помощь, участие в проектах", _SERVICES, "👥"),
    ("time_resource", "Время человека как ограниченный ресурс", _SERVICES, "👥"),
    ("housing_rental", "Аренда жилья, офисов, складов", _SPACES, "🏠"),
    ("coworking_spaces", "Коворкинги, студии, площадки для мероприятий", _SPACES, "🏠"),
    ("pet_sitting", "Передержка питомцев, полив растений", _CARE, "🐾"),
    ("temporary_care", "Временный уход", _CARE, "🐾"),
    ("sports_equipment", "Спортивный инвентарь, палатки, кемпинг", _LEISURE, "🎯"),
    ("board_games", "Настольные игры, VR, музыкальные инструменты", _LEISURE, "🎯"),
    ("props_rental", "Прокат реквизита, костюмов, сценических аксессуаров", _LEISURE, "🎯"),
]


def rows() -> list[dict[str, object]]:
    """Every v6.0 category as the row the migration inserts (without ``version_id``)."""
    out: list[dict[str, object]] = []
    for exchange_type, table in (("permanent", PERMANENT), ("temporary", TEMPORARY)):
        for order, (slug, name, group, emoji) in enumerate(table):
            out.append(
                {
                    "slug": slug,
                    "name": name,
                    "group_name": group,
                    "emoji": emoji,
                    "exchange_type": exchange_type,
                    "sort_order": order,
                    "is_active": True,
                }
            )
    return out
