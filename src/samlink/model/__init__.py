"""What a project is, pure and typed: the template, SAM config, requirements, project metadata,
the links registry and the Lambda target of a function (runtime -> platform, glibc floor).

May import: the ground (`samlink.errors`, `samlink.atomicfile`) and third-party parsers only.
"""
