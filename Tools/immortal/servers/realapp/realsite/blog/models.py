"""The site's pages: a home page, blog sections (index pages) and blog
posts with a StreamField body (headings, paragraphs, images, quotes), a
feed image and tags."""
from django.core.paginator import Paginator
from django.db import models
from modelcluster.contrib.taggit import ClusterTaggableManager
from modelcluster.fields import ParentalKey
from taggit.models import TaggedItemBase
from wagtail import blocks
from wagtail.admin.panels import FieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page
from wagtail.search import index

PER_PAGE = 10


class HomePage(Page):
    intro = RichTextField(blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    subpage_types = ["blog.BlogIndexPage"]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["sections"] = BlogIndexPage.objects.child_of(self).live()
        context["latest"] = (BlogPage.objects.live().descendant_of(self)
                             .select_related("feed_image")
                             .order_by("-date")[:6])
        return context


class BlogIndexPage(Page):
    intro = RichTextField(blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    subpage_types = ["blog.BlogPage"]

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        posts = (BlogPage.objects.live().child_of(self)
                 .select_related("feed_image").order_by("-date"))
        context["posts"] = Paginator(posts, PER_PAGE).get_page(
            request.GET.get("page"))
        return context


class BlogPageTag(TaggedItemBase):
    content_object = ParentalKey("BlogPage", related_name="tagged_items",
                                 on_delete=models.CASCADE)


class BlogPage(Page):
    date = models.DateField("post date")
    intro = models.CharField(max_length=250)
    feed_image = models.ForeignKey(
        "wagtailimages.Image", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+")
    body = StreamField([
        ("heading", blocks.CharBlock(form_classname="title")),
        ("paragraph", blocks.RichTextBlock()),
        ("image", ImageChooserBlock()),
        ("quote", blocks.BlockQuoteBlock()),
    ], blank=True)
    tags = ClusterTaggableManager(through=BlogPageTag, blank=True)

    search_fields = Page.search_fields + [
        index.SearchField("intro"),
        index.SearchField("body"),
        index.FilterField("date"),
    ]
    content_panels = Page.content_panels + [
        FieldPanel("date"), FieldPanel("intro"), FieldPanel("feed_image"),
        FieldPanel("body"), FieldPanel("tags"),
    ]
    parent_page_types = ["blog.BlogIndexPage"]
    subpage_types = []
