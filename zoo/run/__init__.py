"""What runs models for users: :class:`zoo.Backbone`, ``zoo embed`` and ``zoo doctor``."""
