"""Demo catalogue for `lms dev`: Cibernàrium-style MOOCs, instant courses and masterclasses in ca/es/en."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from courses import demo_covers
from courses.models import (
    Course,
    CourseFormat,
    CourseModule,
    CourseRun,
    CourseStatus,
    EmbedProvider,
    Lesson,
    LessonKind,
    QuestionKind,
    QuizOption,
    QuizQuestion,
)
from lms.settings import Settings

MOOC, INSTANT, MASTERCLASS = CourseFormat.MOOC, CourseFormat.INSTANT, CourseFormat.MASTERCLASS
# slug, format, category, DigComp tags, hours, titles (ca, es, en), summaries (ca, es, en)
COURSES: list[
    tuple[str, CourseFormat, str, list[tuple[str, int]], float, tuple[str, str, str], tuple[str, str, str]]
] = [
    (
        "informatica-basica",
        MOOC,
        "alfabetitzacio-digital",
        [("1.1", 1), ("5.2", 1)],
        12,
        ("Informàtica bàsica", "Informática básica", "Basic computing"),
        (
            "Primers passos amb l'ordinador, el ratolí i les carpetes.",
            "Primeros pasos con el ordenador, el ratón y las carpetas.",
            "First steps with the computer, the mouse and folders.",
        ),
    ),
    (
        "internet-i-cerca-d-informacio",
        MOOC,
        "alfabetitzacio-digital",
        [("1.1", 2), ("1.2", 2)],
        10,
        (
            "Internet i cerca d'informació",
            "Internet y búsqueda de información",
            "Internet and searching for information",
        ),
        (
            "Cerca, filtra i avalua informació fiable a la xarxa.",
            "Busca, filtra y evalúa información fiable en la red.",
            "Search, filter and assess reliable information online.",
        ),
    ),
    (
        "correu-electronic-i-agenda",
        INSTANT,
        "alfabetitzacio-digital",
        [("2.1", 2)],
        1,
        ("Correu electrònic i agenda", "Correo electrónico y agenda", "Email and calendar"),
        (
            "Organitza el correu i les cites en 40 minuts.",
            "Organiza el correo y las citas en 40 minutos.",
            "Organise your email and appointments in 40 minutes.",
        ),
    ),
    (
        "tramits-en-linia-amb-l-administracio",
        MOOC,
        "ciutadania-digital",
        [("2.3", 3), ("2.6", 2)],
        8,
        (
            "Tràmits en línia amb l'Administració",
            "Trámites en línea con la Administración",
            "Online procedures with public services",
        ),
        (
            "Certificat digital, idCAT Mòbil i carpeta ciutadana.",
            "Certificado digital, Cl@ve y carpeta ciudadana.",
            "Digital certificates, mobile ID and the citizen folder.",
        ),
    ),
    (
        "ciberseguretat-per-a-tothom",
        MOOC,
        "seguretat",
        [("4.1", 3), ("4.2", 3)],
        15,
        ("Ciberseguretat per a tothom", "Ciberseguridad para todos", "Cybersecurity for everyone"),
        (
            "Contrasenyes, pesca de dades i còpies de seguretat.",
            "Contraseñas, phishing y copias de seguridad.",
            "Passwords, phishing and backups.",
        ),
    ),
    (
        "contrasenyes-segures-en-15-minuts",
        INSTANT,
        "seguretat",
        [("4.1", 2)],
        0.25,
        (
            "Contrasenyes segures en 15 minuts",
            "Contraseñas seguras en 15 minutos",
            "Strong passwords in 15 minutes",
        ),
        (
            "Gestors de contrasenyes i verificació en dos passos.",
            "Gestores de contraseñas y verificación en dos pasos.",
            "Password managers and two-step verification.",
        ),
    ),
    (
        "privacitat-a-les-xarxes-socials",
        INSTANT,
        "seguretat",
        [("4.2", 3), ("2.6", 3)],
        0.5,
        ("Privacitat a les xarxes socials", "Privacidad en las redes sociales", "Privacy on social media"),
        (
            "Revisa què comparteixes i amb qui.",
            "Revisa qué compartes y con quién.",
            "Check what you share and with whom.",
        ),
    ),
    (
        "full-de-calcul-nivell-inicial",
        MOOC,
        "ofimatica",
        [("3.1", 3), ("5.2", 2)],
        20,
        ("Full de càlcul: nivell inicial", "Hoja de cálculo: nivel inicial", "Spreadsheets: beginner level"),
        (
            "Fórmules, formats i gràfics amb LibreOffice Calc i Excel.",
            "Fórmulas, formatos y gráficos con LibreOffice Calc y Excel.",
            "Formulas, formatting and charts with LibreOffice Calc and Excel.",
        ),
    ),
    (
        "excel-taules-dinamiques",
        INSTANT,
        "ofimatica",
        [("3.1", 4)],
        1,
        ("Excel: taules dinàmiques", "Excel: tablas dinámicas", "Excel: pivot tables"),
        (
            "Resumeix milers de files en un minut.",
            "Resume miles de filas en un minuto.",
            "Summarise thousands of rows in a minute.",
        ),
    ),
    (
        "processador-de-textos",
        MOOC,
        "ofimatica",
        [("3.1", 2)],
        12,
        ("Processador de textos", "Procesador de textos", "Word processing"),
        (
            "Documents ben estructurats, estils i plantilles.",
            "Documentos bien estructurados, estilos y plantillas.",
            "Well-structured documents, styles and templates.",
        ),
    ),
    (
        "presentacions-eficaces",
        INSTANT,
        "ofimatica",
        [("3.1", 3), ("2.2", 2)],
        0.75,
        ("Presentacions eficaces", "Presentaciones eficaces", "Effective presentations"),
        (
            "Diapositives clares que acompanyen el missatge.",
            "Diapositivas claras que acompañan el mensaje.",
            "Clear slides that support your message.",
        ),
    ),
    (
        "treball-col-laboratiu-al-nuvol",
        MOOC,
        "treball-digital",
        [("2.4", 4), ("1.3", 3)],
        10,
        (
            "Treball col·laboratiu al núvol",
            "Trabajo colaborativo en la nube",
            "Collaborative work in the cloud",
        ),
        (
            "Documents compartits, videotrucades i tauleres de tasques.",
            "Documentos compartidos, videollamadas y tableros de tareas.",
            "Shared documents, video calls and task boards.",
        ),
    ),
    (
        "teletreball-amb-eines-digitals",
        INSTANT,
        "treball-digital",
        [("2.4", 3), ("2.1", 3)],
        1,
        (
            "Teletreball amb eines digitals",
            "Teletrabajo con herramientas digitales",
            "Remote work with digital tools",
        ),
        (
            "Organització, comunicació i desconnexió digital.",
            "Organización, comunicación y desconexión digital.",
            "Organisation, communication and digital disconnection.",
        ),
    ),
    (
        "linkedin-per-trobar-feina",
        MOOC,
        "ocupacio",
        [("2.6", 4), ("2.2", 3)],
        6,
        ("LinkedIn per trobar feina", "LinkedIn para encontrar trabajo", "LinkedIn for your job search"),
        (
            "Perfil, xarxa de contactes i alertes d'ofertes.",
            "Perfil, red de contactos y alertas de ofertas.",
            "Profile, network and job alerts.",
        ),
    ),
    (
        "curriculum-digital-i-portals-d-ocupacio",
        INSTANT,
        "ocupacio",
        [("2.6", 3)],
        0.5,
        (
            "Currículum digital i portals d'ocupació",
            "Currículum digital y portales de empleo",
            "Digital CV and job portals",
        ),
        (
            "Prepara el CV en línia i on publicar-lo.",
            "Prepara el CV en línea y dónde publicarlo.",
            "Build your online CV and where to publish it.",
        ),
    ),
    (
        "entrevistes-de-feina-per-videotrucada",
        MASTERCLASS,
        "ocupacio",
        [("2.1", 4)],
        1.5,
        (
            "Entrevistes de feina per videotrucada",
            "Entrevistas de trabajo por videollamada",
            "Job interviews by video call",
        ),
        (
            "Llum, so, càmera i com respondre amb confiança.",
            "Luz, sonido, cámara y cómo responder con confianza.",
            "Light, sound, camera and answering with confidence.",
        ),
    ),
    (
        "marca-personal-a-internet",
        MASTERCLASS,
        "ocupacio",
        [("2.6", 5)],
        1.5,
        ("Marca personal a internet", "Marca personal en internet", "Personal branding online"),
        (
            "Com et troben les empreses i què hi veuen.",
            "Cómo te encuentran las empresas y qué ven.",
            "How employers find you and what they see.",
        ),
    ),
    (
        "botiga-en-linia-per-a-comercos",
        MOOC,
        "empreses",
        [("3.1", 4), ("2.2", 4)],
        16,
        (
            "Botiga en línia per a comerços",
            "Tienda en línea para comercios",
            "An online shop for local retailers",
        ),
        (
            "Catàleg, pagaments i enviaments per al comerç de barri.",
            "Catálogo, pagos y envíos para el comercio de barrio.",
            "Catalogue, payments and shipping for neighbourhood shops.",
        ),
    ),
    (
        "xarxes-socials-per-a-negocis",
        MOOC,
        "empreses",
        [("2.2", 4), ("3.2", 3)],
        12,
        ("Xarxes socials per a negocis", "Redes sociales para negocios", "Social media for business"),
        (
            "Pla de continguts, calendari i mètriques bàsiques.",
            "Plan de contenidos, calendario y métricas básicas.",
            "Content plan, calendar and basic metrics.",
        ),
    ),
    (
        "google-business-profile",
        INSTANT,
        "empreses",
        [("2.2", 3)],
        0.5,
        (
            "Fitxa de Google per al teu negoci",
            "Ficha de Google para tu negocio",
            "Google Business Profile for your shop",
        ),
        (
            "Que els clients del barri et trobin al mapa.",
            "Que los clientes del barrio te encuentren en el mapa.",
            "Help local customers find you on the map.",
        ),
    ),
    (
        "facturacio-electronica-per-a-autonoms",
        MASTERCLASS,
        "empreses",
        [("2.3", 4), ("5.2", 4)],
        2,
        (
            "Facturació electrònica per a autònoms",
            "Facturación electrónica para autónomos",
            "E-invoicing for the self-employed",
        ),
        (
            "Què canvia amb la llei Crea y Crece i com preparar-se.",
            "Qué cambia con la ley Crea y Crece y cómo prepararse.",
            "What the new e-invoicing law changes and how to prepare.",
        ),
    ),
    (
        "intel-ligencia-artificial-generativa",
        MASTERCLASS,
        "tecnologies-emergents",
        [("3.2", 5), ("1.2", 5)],
        1.5,
        (
            "Intel·ligència artificial generativa a la feina",
            "Inteligencia artificial generativa en el trabajo",
            "Generative AI at work",
        ),
        (
            "Usos reals, límits i bones pràctiques.",
            "Usos reales, límites y buenas prácticas.",
            "Real uses, limits and good practice.",
        ),
    ),
    (
        "ia-per-a-petits-negocis",
        MOOC,
        "tecnologies-emergents",
        [("3.2", 4), ("5.3", 4)],
        10,
        ("IA per a petits negocis", "IA para pequeños negocios", "AI for small businesses"),
        (
            "Assistents, automatitzacions i atenció al client.",
            "Asistentes, automatizaciones y atención al cliente.",
            "Assistants, automation and customer service.",
        ),
    ),
    (
        "programacio-amb-python",
        MOOC,
        "programacio",
        [("3.4", 4), ("5.3", 3)],
        30,
        ("Programació amb Python", "Programación con Python", "Programming with Python"),
        (
            "Variables, bucles i el teu primer programa útil.",
            "Variables, bucles y tu primer programa útil.",
            "Variables, loops and your first useful program.",
        ),
    ),
    (
        "introduccio-a-l-analisi-de-dades",
        MOOC,
        "dades",
        [("1.3", 4), ("3.4", 3)],
        24,
        (
            "Introducció a l'anàlisi de dades",
            "Introducción al análisis de datos",
            "Introduction to data analysis",
        ),
        (
            "De la taula al gràfic: preguntes i respostes amb dades.",
            "De la tabla al gráfico: preguntas y respuestas con datos.",
            "From table to chart: answering questions with data.",
        ),
    ),
    (
        "dades-obertes-de-barcelona",
        MASTERCLASS,
        "dades",
        [("1.3", 5)],
        1.5,
        ("Dades obertes de Barcelona", "Datos abiertos de Barcelona", "Barcelona open data"),
        (
            "Què hi ha a Open Data BCN i com fer-ho servir.",
            "Qué hay en Open Data BCN y cómo usarlo.",
            "What Open Data BCN offers and how to use it.",
        ),
    ),
    (
        "creacio-de-pagines-web-amb-wordpress",
        MOOC,
        "creacio-de-continguts",
        [("3.1", 4), ("3.3", 3)],
        18,
        (
            "Creació de pàgines web amb WordPress",
            "Creación de páginas web con WordPress",
            "Building websites with WordPress",
        ),
        (
            "Del domini a la primera pàgina publicada.",
            "Del dominio a la primera página publicada.",
            "From domain name to your first published page.",
        ),
    ),
    (
        "edicio-de-video-amb-el-mobil",
        INSTANT,
        "creacio-de-continguts",
        [("3.1", 3)],
        1,
        ("Edició de vídeo amb el mòbil", "Edición de vídeo con el móvil", "Video editing on your phone"),
        (
            "Grava, retalla i subtitula vídeos curts.",
            "Graba, recorta y subtitula vídeos cortos.",
            "Record, trim and caption short videos.",
        ),
    ),
    (
        "drets-d-autor-i-llicencies-creative-commons",
        INSTANT,
        "creacio-de-continguts",
        [("3.3", 3)],
        0.5,
        (
            "Drets d'autor i llicències Creative Commons",
            "Derechos de autor y licencias Creative Commons",
            "Copyright and Creative Commons licences",
        ),
        (
            "Quines imatges pots fer servir i com citar-les.",
            "Qué imágenes puedes usar y cómo citarlas.",
            "Which images you may use and how to credit them.",
        ),
    ),
    (
        "benestar-digital-i-desconnexio",
        MASTERCLASS,
        "ciutadania-digital",
        [("4.3", 3), ("4.4", 2)],
        1,
        (
            "Benestar digital i desconnexió",
            "Bienestar digital y desconexión",
            "Digital wellbeing and disconnection",
        ),
        (
            "Pantalles, notificacions i hàbits saludables.",
            "Pantallas, notificaciones y hábitos saludables.",
            "Screens, notifications and healthy habits.",
        ),
    ),
    (
        "mobil-android-pas-a-pas",
        MOOC,
        "alfabetitzacio-digital",
        [("5.1", 2), ("5.2", 2)],
        8,
        ("El mòbil Android pas a pas", "El móvil Android paso a paso", "Your Android phone step by step"),
        (
            "Configuració, aplicacions i seguretat al telèfon.",
            "Configuración, aplicaciones y seguridad en el teléfono.",
            "Settings, apps and security on your phone.",
        ),
    ),
    (
        "competencies-digitals-per-a-la-gent-gran",
        MOOC,
        "alfabetitzacio-digital",
        [("2.1", 2), ("1.1", 1)],
        10,
        (
            "Competències digitals per a la gent gran",
            "Competencias digitales para personas mayores",
            "Digital skills for older adults",
        ),
        (
            "Videotrucades amb la família, banca i cita mèdica.",
            "Videollamadas con la familia, banca y cita médica.",
            "Video calls with family, banking and doctor's appointments.",
        ),
    ),
    (
        "sostenibilitat-digital",
        INSTANT,
        "tecnologies-emergents",
        [("4.4", 3)],
        0.5,
        ("Sostenibilitat digital", "Sostenibilidad digital", "Digital sustainability"),
        (
            "La petjada ambiental dels dispositius i del núvol.",
            "La huella ambiental de los dispositivos y de la nube.",
            "The environmental footprint of devices and the cloud.",
        ),
    ),
]
SPEAKERS = [
    ("Laia Soler i Vidal", "Cibernàrium, Barcelona Activa"),
    ("Marc Ribas Puig", "Consultor en transformació digital"),
    ("Aina Ferrer Costa", "Especialista en ocupació i talent"),
    ("Jordi Casals Roca", "Enginyer de dades"),
    ("Carmen Ortega Ruiz", "Asesora fiscal para autónomos"),
]
MODULE_TITLES = [
    {"ca": "Introducció", "es": "Introducción", "en": "Introduction"},
    {"ca": "Pràctica guiada", "es": "Práctica guiada", "en": "Guided practice"},
    {"ca": "Aprofundim", "es": "Profundizamos", "en": "Going further"},
    {"ca": "Repte final", "es": "Reto final", "en": "Final challenge"},
]
EMBEDS = ["dQw4w9WgXcQ", "aqz-KE-bpKQ", "jNQXAC9IVRw"]


def _article(title: str, summary: str) -> str:
    return (
        f"<h2>{title}</h2><p>{summary}</p><ul><li>Objectius de la sessió</li><li>Exemples pràctics</li>"
        "<li>Recursos per continuar</li></ul>"
        '<p>Més informació a <a href="https://cibernarium.barcelonactiva.cat" rel="noopener noreferrer">'
        "Cibernàrium</a>.</p>"
    )


def _localized(values: tuple[str, str, str]) -> dict[str, str]:
    return dict(zip(("ca", "es", "en"), values, strict=True))


async def load(session: AsyncSession, settings: Settings) -> None:
    """Insert the demo catalogue once (nothing happens when it is already there)."""
    first = COURSES[0][0]
    if (await session.execute(select(Course.id).where(Course.slug == first))).first() is None:
        await _catalogue(session)
    await demo_covers.load(session, settings)  # also on data made before covers existed


async def _catalogue(session: AsyncSession) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows: list[object] = []
    for index, (slug, fmt, category, tags, hours, titles, summaries) in enumerate(COURSES):
        course_id = uuid.uuid4()
        title, summary = _localized(titles), _localized(summaries)
        speakers = []
        if fmt is MASTERCLASS:
            name, affiliation = SPEAKERS[index % len(SPEAKERS)]
            speakers = [
                {"name": name, "affiliation": affiliation, "bio": {"ca": f"{name} és {affiliation}."}}
            ]
        rows.append(
            Course(
                id=course_id,
                slug=slug,
                format=fmt,
                status=CourseStatus.PUBLISHED,
                title=title,
                summary=summary,
                description={k: f"{v} {summary[k]}" for k, v in title.items()},
                category=category,
                tags=[category.split("-")[0], fmt.value],
                digcomp=[{"code": code, "level": level} for code, level in tags],
                estimated_hours=hours,
                languages=["ca", "es"] if index % 3 else ["ca"],
                speakers=speakers,
                speaker_names=[s["name"] for s in speakers],
                certificates_enabled=True,  # every completion earns a certificate of attendance
                # Spread publication over the last months so "newest" has an order.
                published_at=now - timedelta(days=3 * (len(COURSES) - index)),
            )
        )
        rows += _runs(course_id, fmt, index, now)
        rows += _content(course_id, fmt, title, summary, now)
    session.add_all(rows)
    await session.flush()


def _runs(course_id: uuid.UUID, fmt: CourseFormat, index: int, now: datetime) -> list[object]:
    if fmt is INSTANT:
        return [CourseRun(id=uuid.uuid4(), course_id=course_id, starts_at=now - timedelta(days=200))]
    runs: list[object] = []
    # One past, one running (for MOOCs) and one upcoming run, staggered per course.
    offsets = (-120, -10, 20 + index) if fmt is MOOC else (-60, 10 + index)
    for offset in offsets:
        starts = now + timedelta(days=offset)
        if fmt is MASTERCLASS:
            starts = starts.replace(hour=16)  # 17:00 or 18:00 in Madrid
        weeks = 5 if fmt is MOOC else 0
        live = starts if fmt is MASTERCLASS else None
        runs.append(
            CourseRun(
                id=uuid.uuid4(),
                course_id=course_id,
                starts_at=starts,
                ends_at=starts + timedelta(weeks=weeks, days=1 if fmt is MASTERCLASS else 0),
                enrolment_opens_at=starts - timedelta(days=30),
                enrolment_closes_at=starts + timedelta(days=7 if fmt is MOOC else 0, hours=12),
                capacity=None if fmt is MOOC and index % 2 else 25 + 5 * (index % 4),
                live_starts_at=live,
                live_duration_minutes=90 if live else None,
                meeting_url="https://meet.jit.si/aula-demo-" + str(course_id)[:8]
                if live and index % 2
                else None,
                venue="Cibernàrium, Roc Boronat 117, Barcelona" if live and not index % 2 else None,
            )
        )
    return runs


def _content(
    course_id: uuid.UUID, fmt: CourseFormat, title: dict[str, str], summary: dict[str, str], now: datetime
) -> list[object]:
    rows: list[object] = []
    module_count = {MOOC: 4, INSTANT: 1, MASTERCLASS: 1}[fmt]
    for m in range(module_count):
        module_id = uuid.uuid4()
        rows.append(
            CourseModule(
                id=module_id,
                course_id=course_id,
                position=m,
                title=MODULE_TITLES[m] if fmt is MOOC else title,
                summary={},
                # MOOC modules open week by week (relative to the running edition).
                available_from=now + timedelta(weeks=m - 1) if fmt is MOOC and m else None,
            )
        )
        kinds = [LessonKind.ARTICLE, LessonKind.EMBED, LessonKind.QUIZ]
        if fmt is MASTERCLASS:
            kinds = [LessonKind.LIVE_SESSION, LessonKind.ARTICLE]
        for p, kind in enumerate(kinds):
            lesson_id = uuid.uuid4()
            lesson = Lesson(
                id=lesson_id,
                module_id=module_id,
                course_id=course_id,
                position=p,
                kind=kind,
                title={
                    LessonKind.ARTICLE: {"ca": "Lectura", "es": "Lectura", "en": "Reading"},
                    LessonKind.EMBED: {"ca": "Vídeo", "es": "Vídeo", "en": "Video"},
                    LessonKind.QUIZ: {"ca": "Comprova-ho", "es": "Compruébalo", "en": "Check yourself"},
                    LessonKind.LIVE_SESSION: {
                        "ca": "Sessió en directe",
                        "es": "Sesión en directo",
                        "en": "Live session",
                    },
                }[kind],
                required=kind is not LessonKind.EMBED,
                estimated_minutes={LessonKind.LIVE_SESSION: 90}.get(kind, 10),
                article_html={k: _article(title[k], summary[k]) for k in title}
                if kind is LessonKind.ARTICLE
                else {},
                embed_provider=EmbedProvider.YOUTUBE if kind is LessonKind.EMBED else None,
                embed_id=EMBEDS[m % len(EMBEDS)] if kind is LessonKind.EMBED else None,
                pass_mark=60 if kind is LessonKind.QUIZ else None,
                max_attempts=3 if kind is LessonKind.QUIZ else None,
            )
            rows.append(lesson)
            if kind is LessonKind.QUIZ:
                rows += _quiz(lesson_id)
    return rows


def _quiz(lesson_id: uuid.UUID) -> list[object]:
    question_id = uuid.uuid4()
    rows: list[object] = [
        QuizQuestion(
            id=question_id,
            lesson_id=lesson_id,
            position=0,
            kind=QuestionKind.TRUE_FALSE,
            prompt={
                "ca": "Cal revisar la font d'una informació abans de compartir-la.",
                "es": "Hay que revisar la fuente de una información antes de compartirla.",
                "en": "You should check the source of information before sharing it.",
            },
            explanation={},
        )
    ]
    for position, (text, correct) in enumerate(
        [
            ({"ca": "Cert", "es": "Verdadero", "en": "True"}, True),
            ({"ca": "Fals", "es": "Falso", "en": "False"}, False),
        ]
    ):
        rows.append(
            QuizOption(
                id=uuid.uuid4(), question_id=question_id, position=position, text=text, is_correct=correct
            )
        )
    return rows
