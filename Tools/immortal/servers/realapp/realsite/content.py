"""Build the site's data, deterministically: migrate a fresh SQLite
database, then generate ~300 pages with StreamField bodies, 50 images made
with Pillow and their renditions, tags, the search index; collect the
static files; write the list of URLs the benchmark requests (urls.txt).

    REALAPP_DATA=DIR python -m realsite.content

DIR (settings.DATA_DIR) gets site.sqlite3, media/, static/ and urls.txt;
anything there before is removed first.
"""
import datetime
import io
import os
import random
import shutil
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realsite.settings")

SECTIONS = ("Science", "Travel", "Cooking", "Technology", "History")
POSTS_PER_SECTION = 59          # 1 home + 5 sections + 295 posts = 301 pages
IMAGES = 50
RENDITIONS = ("width-800", "fill-320x200")   # what the templates ask for
TAGS = 30
SEED = 20261201
# The languages the URL list visits (all of Django's are enabled).
URL_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "pt-br", "ru",
                 "ja", "zh-hans", "ar", "tr", "sv", "uk", "ko")

WORDS = """
river mountain copper garden lantern harbor meadow signal kernel thread
market bridge forest engine winter summer valley castle island desert
compass anchor ribbon marble silver violet orange pepper ginger saffron
bread butter honey olive lemon tomato basil thyme onion garlic noodle
rocket planet comet orbit photon quantum neuron genome enzyme fossil
glacier volcano canyon prairie tundra reef lagoon delta estuary summit
library archive museum theatre gallery studio workshop factory station
railway airport highway tunnel harbour ferry bicycle carriage wagon sail
empire dynasty treaty charter council senate kingdom republic colony
merchant scholar pilot sailor farmer weaver potter painter builder monk
memory cache buffer socket server worker process thread signal module
python compiler parser object pointer heap stack queue graph matrix
journey voyage letter diary chapter story legend ballad poem riddle
bright quiet ancient modern rapid gentle golden hidden narrow distant
simple curious careful patient steady humble proud silent hollow vivid
""".split()


def sentence(rng, n=None):
    words = [rng.choice(WORDS) for _ in range(n or rng.randint(7, 16))]
    return " ".join(words).capitalize() + "."


def paragraph(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def make_image(i, rng):
    """A 800x600 JPEG of shapes and a gradient; the same bytes every time."""
    from PIL import Image, ImageDraw
    w, h = 800, 600
    base = tuple(rng.randrange(256) for _ in range(3))
    img = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(img)
    for y in range(0, h, 4):
        t = y / h
        draw.rectangle([0, y, w, y + 3], fill=tuple(
            int(c * (1 - t) + (255 - c) * t) for c in base))
    for _ in range(12):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(40, 300), y0 + rng.randrange(40, 300)
        color = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            [x0, y0, x1, y1], fill=color)
    draw.text((20, 20), "image %02d" % i, fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def build(data_dir):
    import django
    from django.conf import settings
    from django.core.management import call_command

    for name in ("site.sqlite3", "urls.txt"):
        if os.path.exists(os.path.join(data_dir, name)):
            os.unlink(os.path.join(data_dir, name))
    for name in ("media", "static"):
        shutil.rmtree(os.path.join(data_dir, name), ignore_errors=True)
    os.makedirs(data_dir, exist_ok=True)
    assert settings.DATABASES["default"]["NAME"] == os.path.join(
        data_dir, "site.sqlite3"), settings.DATABASES["default"]["NAME"]
    django.setup()
    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    log("migrated", t0)
    generate()
    log("content generated", t0)
    call_command("update_index", verbosity=0)
    log("search index built", t0)
    call_command("collectstatic", interactive=False, verbosity=0)
    log("static files collected", t0)
    urls = url_list()
    with open(os.path.join(data_dir, "urls.txt"), "w") as f:
        f.write("\n".join(urls) + "\n")
    log("%d URLs in urls.txt" % len(urls), t0)


def log(what, t0):
    print("content: %s (%.1f s)" % (what, time.monotonic() - t0),
          file=sys.stderr, flush=True)


def generate():
    from django.core.files.images import ImageFile
    from django.db import transaction
    from wagtail.images import get_image_model
    from wagtail.models import Page, Site
    from wagtail.rich_text import RichText

    from realsite.blog.models import BlogIndexPage, BlogPage, HomePage

    rng = random.Random(SEED)
    Image = get_image_model()
    tags = sorted({"%s-%s" % (rng.choice(WORDS), rng.choice(WORDS))
                   for _ in range(TAGS * 2)})[:TAGS]
    epoch = datetime.datetime(2024, 1, 1, 9, 0, tzinfo=datetime.timezone.utc)

    with transaction.atomic():
        images = []
        for i in range(IMAGES):
            image = Image(title="Picture %02d: %s" % (i, sentence(rng, 3)),
                          file=ImageFile(io.BytesIO(make_image(i, rng)),
                                         name="picture-%02d.jpg" % i))
            image.save()
            image.tags.add(*rng.sample(tags, 2))
            images.append(image)

        # Replace Wagtail's welcome page with our home page.
        root = Page.get_first_root_node()
        Site.objects.all().delete()
        for child in root.get_children():
            child.delete()
        root = Page.get_first_root_node()
        home = root.add_child(instance=HomePage(
            title="Immortal Journal", slug="home",
            intro=RichText("<p>%s</p>" % paragraph(rng)).source,
            first_published_at=epoch, last_published_at=epoch))
        Site.objects.create(hostname="localhost", port=80, root_page=home,
                            is_default_site=True, site_name="Immortal Journal")

        n = 0
        for s, section_title in enumerate(SECTIONS):
            section = home.add_child(instance=BlogIndexPage(
                title=section_title, slug=section_title.lower(),
                intro="<p>%s</p>" % paragraph(rng),
                first_published_at=epoch, last_published_at=epoch))
            for p in range(POSTS_PER_SECTION):
                n += 1
                when = epoch + datetime.timedelta(days=n, hours=s)
                body = []
                for _ in range(rng.randint(3, 6)):
                    body.append(("heading", sentence(rng, 4)[:-1]))
                    for _ in range(rng.randint(1, 3)):
                        body.append(("paragraph", RichText(
                            "<p>%s</p>" % paragraph(rng))))
                    r = rng.random()
                    if r < 0.5:
                        body.append(("image", rng.choice(images)))
                    elif r < 0.75:
                        body.append(("quote", sentence(rng)))
                title = "%s %d: %s" % (section_title, p + 1, sentence(rng, 4)[:-1])
                post = BlogPage(
                    title=title, slug="post-%03d" % n, date=when.date(),
                    intro=sentence(rng), feed_image=rng.choice(images),
                    body=body, first_published_at=when,
                    last_published_at=when)
                post.tags.add(*rng.sample(tags, rng.randint(1, 4)))
                section.add_child(instance=post)

    for image in images:
        image.get_renditions(*RENDITIONS)


def url_list():
    """The ~200 URLs the master requests once (warm-up) and the load
    rotates over: pages in 16 languages, section pages, searches, tags,
    the sitemap, the two admins' login pages. Deterministic."""
    from taggit.models import Tag
    from wagtail.models import Site

    from realsite.blog.models import BlogIndexPage, BlogPage

    rng = random.Random(SEED + 1)
    home = Site.objects.get(is_default_site=True).root_page
    prefix = len(home.url_path) - 1

    def rel(page):
        return page.url_path[prefix:]

    langs = URL_LANGUAGES
    urls = ["/%s/" % lang for lang in langs]
    for i, section in enumerate(BlogIndexPage.objects.child_of(home)
                                .order_by("path")):
        urls.append("/%s%s" % (langs[i], rel(section)))
        urls.append("/%s%s" % (langs[i + 5], rel(section)))
        urls.append("/en%s?page=2" % rel(section))
    posts = list(BlogPage.objects.live().order_by("path"))
    for i, post in enumerate(rng.sample(posts, 136)):
        urls.append("/%s%s" % (langs[i % len(langs)], rel(post)))
    for i, tag in enumerate(rng.sample(
            sorted(Tag.objects.values_list("slug", flat=True)), 10)):
        urls.append("/%s/tags/%s/" % (langs[(3 * i) % len(langs)], tag))
    for i in range(20):
        q = rng.choice(WORDS)
        if i % 3 == 0:
            q += "+" + rng.choice(WORDS)
        urls.append("/%s/search/?q=%s" % (langs[(5 * i) % len(langs)], q))
    urls += ["/sitemap.xml", "/admin/login/", "/django-admin/login/"]
    return urls


if __name__ == "__main__":
    from django.conf import settings
    build(settings.DATA_DIR)
