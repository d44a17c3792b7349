# The app in one container, after Streamlit's own Docker guidance (docs.streamlit.io, "Deploy Streamlit using Docker"):
# a slim Python image, the requirements, a health check on /_stcore/health, and `streamlit run` on 0.0.0.0:8501.
# Checkpoints and the 28×28 test images ship inside the image: a replica needs nothing from outside but, behind a
# proxy with other replicas, the shared cookie secret ($STREAMLIT_SERVER_COOKIE_SECRET; see docker-compose.yml).
FROM python:3.11-slim

WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*

# torch's CPU wheels: PyPI's torch for x86_64 brings several GB of CUDA libraries that a CPU server never uses.
COPY requirements.txt pyproject.toml ./
RUN sed -i '/^-e \.$/d' requirements.txt \
    && pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt

COPY . .
RUN pip install --no-cache-dir --no-deps -e .

EXPOSE 8501
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD curl --fail http://localhost:8501/_stcore/health
ENTRYPOINT ["streamlit", "run", "streamlit_app.py", "--server.port=8501", "--server.address=0.0.0.0"]
