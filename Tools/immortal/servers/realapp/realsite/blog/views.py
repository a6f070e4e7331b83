from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from taggit.models import Tag

from realsite.blog.models import PER_PAGE, BlogPage


def search(request):
    """Full-text search with Wagtail's database backend (SQLite FTS5)."""
    query = request.GET.get("q", "").strip()
    results = BlogPage.objects.none()
    if query:
        results = BlogPage.objects.live().search(query)
    page = Paginator(results, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "blog/search.html",
                  {"query": query, "results": page})


def tag(request, tag):
    """The posts with one tag."""
    tag = get_object_or_404(Tag, slug=tag)
    posts = (BlogPage.objects.live().filter(tags=tag)
             .select_related("feed_image").order_by("-date"))
    page = Paginator(posts, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "blog/tag.html", {"tag": tag, "posts": page})
