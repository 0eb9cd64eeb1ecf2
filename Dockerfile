# Glassbox in one container: the Streamlit app on port 8501, CPU only, nothing downloaded at run time.
# Used as is by a Hugging Face Docker Space (README front matter: sdk: docker, app_port: 8501) and by
#   docker build -t glassbox . && docker run --rm -p 8501:8501 glassbox
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_OFFLINE=1

# Spaces run containers as uid 1000; its home holds the app and Glassbox's cache (~/.cache/glassbox).
RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

# The install steps, in the order tests/test_fresh_install.py replays them in a fresh venv (there, torch comes from
# the local wheel instead of the index). torch first, from PyTorch's CPU index at the version requirements.txt pins:
# PyPI's Linux wheel bundles CUDA (gigabytes a CPU Space cannot use). medmnist is left out: only training needs it.
COPY requirements.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu "$(grep -E '^torch==' requirements.txt)"
RUN pip install -r requirements.txt

# The whole repository (.dockerignore leaves out virtual environments, runs, caches and test output).
COPY --chown=user . .
USER user
ENV HOME=/home/user

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).read() != b'ok')"
# serve.py loads every model and transcribes the Speech lab's first example before the port opens (then
# `streamlit run app.py`): the health check answers once the server is warm.
CMD ["python", "serve.py", "--server.port=8501", "--server.address=0.0.0.0"]
