"""A small Wagtail 7.0 site for the real-application benchmark
(Tools/immortal/servers/realapp.py): a home page, blog sections and blog
posts with StreamField bodies, images and tags, search, a sitemap, the
Wagtail and Django admins, in every language Django ships."""
